package qrssim

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"unicode"

	"github.com/google/uuid"
)

// A QRS filter: `property op value` joined by and/or, with parentheses.
// Operators eq ne gt ge lt le sw ew so; strings in single quotes with \' and
// \\ escapes, compared case-insensitively; GUIDs, booleans, numbers, null
// and enum names bare; dotted paths reach into references and collections
// (a collection matches when any element does).

type filterNode interface {
	match(doc any) bool
}

type andNode struct{ l, r filterNode }
type orNode struct{ l, r filterNode }

func (n andNode) match(doc any) bool { return n.l.match(doc) && n.r.match(doc) }
func (n orNode) match(doc any) bool  { return n.l.match(doc) || n.r.match(doc) }

type literalKind int

const (
	litString literalKind = iota // quoted
	litBare                      // GUIDs, enum names
	litBool
	litNumber
	litNull
)

type literal struct {
	kind literalKind
	s    string
	b    bool
	n    float64
}

type cmpNode struct {
	path []string
	op   string
	val  literal
}

// errFilter is what the handlers answer with: QRS's own text.
type errFilter struct {
	text   string // the filter as sent
	reason string
}

func (e *errFilter) Error() string {
	if e.reason == "empty" {
		return "Invalid expression"
	}
	return "Cannot parse the expression: " + e.text
}

// parseFilter parses a filter and checks its property paths against the
// entity's wire type.
func parseFilter(text string, entity reflect.Type) (filterNode, error) {
	p := &filterParser{src: text}
	if err := p.lex(); err != nil {
		return nil, &errFilter{text: text, reason: err.Error()}
	}
	if len(p.toks) == 0 {
		return nil, &errFilter{text: text, reason: "empty"}
	}
	n, err := p.parseOr()
	if err == nil && p.pos < len(p.toks) {
		err = fmt.Errorf("unexpected %q", p.toks[p.pos].text)
	}
	if err != nil {
		if err == errEmptyGroup {
			return nil, &errFilter{text: text, reason: "empty"}
		}
		return nil, &errFilter{text: text, reason: err.Error()}
	}
	if entity != nil {
		if err := checkPaths(n, entity); err != nil {
			return nil, &errFilter{text: text, reason: err.Error()}
		}
	}
	return n, nil
}

type tokKind int

const (
	tokWord tokKind = iota
	tokString
	tokLParen
	tokRParen
)

type token struct {
	kind tokKind
	text string
}

type filterParser struct {
	src  string
	toks []token
	pos  int
}

var errEmptyGroup = errors.New("empty group")

func (p *filterParser) lex() error {
	s := p.src
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(':
			p.toks = append(p.toks, token{tokLParen, "("})
			i++
		case c == ')':
			p.toks = append(p.toks, token{tokRParen, ")"})
			i++
		case c == '\'':
			var b strings.Builder
			i++
			closed := false
			for i < len(s) {
				if s[i] == '\\' {
					if i+1 < len(s) && (s[i+1] == '\'' || s[i+1] == '\\') {
						b.WriteByte(s[i+1])
						i += 2
						continue
					}
					return errors.New("bad escape")
				}
				if s[i] == '\'' {
					closed = true
					i++
					break
				}
				b.WriteByte(s[i])
				i++
			}
			if !closed {
				return errors.New("unterminated string")
			}
			p.toks = append(p.toks, token{tokString, b.String()})
		case c == '"':
			return errors.New("double quotes")
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\r\n()'\"", rune(s[j])) {
				j++
			}
			p.toks = append(p.toks, token{tokWord, s[i:j]})
			i = j
		}
	}
	return nil
}

func (p *filterParser) peekWord(w string) bool {
	return p.pos < len(p.toks) && p.toks[p.pos].kind == tokWord && strings.EqualFold(p.toks[p.pos].text, w)
}

func (p *filterParser) parseOr() (filterNode, error) {
	l, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	for p.peekWord("or") {
		p.pos++
		r, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		l = orNode{l, r}
	}
	return l, nil
}

func (p *filterParser) parseAnd() (filterNode, error) {
	l, err := p.parsePrimary()
	if err != nil {
		return nil, err
	}
	for p.peekWord("and") {
		p.pos++
		r, err := p.parsePrimary()
		if err != nil {
			return nil, err
		}
		l = andNode{l, r}
	}
	return l, nil
}

var operators = map[string]bool{"eq": true, "ne": true, "gt": true, "ge": true, "lt": true, "le": true, "sw": true, "ew": true, "so": true}

func (p *filterParser) parsePrimary() (filterNode, error) {
	if p.pos >= len(p.toks) {
		return nil, errors.New("unexpected end")
	}
	t := p.toks[p.pos]
	if t.kind == tokLParen {
		p.pos++
		if p.pos < len(p.toks) && p.toks[p.pos].kind == tokRParen {
			return nil, errEmptyGroup
		}
		n, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		if p.pos >= len(p.toks) || p.toks[p.pos].kind != tokRParen {
			return nil, errors.New("missing )")
		}
		p.pos++
		return n, nil
	}
	if t.kind != tokWord {
		return nil, fmt.Errorf("unexpected %q", t.text)
	}
	path := strings.Split(t.text, ".")
	for _, seg := range path {
		if seg == "" || !isIdent(seg) {
			return nil, fmt.Errorf("bad property %q", t.text)
		}
	}
	p.pos++
	if p.pos >= len(p.toks) || p.toks[p.pos].kind != tokWord || !operators[strings.ToLower(p.toks[p.pos].text)] {
		return nil, errors.New("missing operator")
	}
	op := strings.ToLower(p.toks[p.pos].text)
	p.pos++
	if p.pos >= len(p.toks) {
		return nil, errors.New("missing value")
	}
	v := p.toks[p.pos]
	p.pos++
	var lit literal
	switch v.kind {
	case tokString:
		lit = literal{kind: litString, s: v.text}
	case tokWord:
		lw := strings.ToLower(v.text)
		switch {
		case lw == "true" || lw == "false":
			lit = literal{kind: litBool, b: lw == "true"}
		case lw == "null":
			lit = literal{kind: litNull}
		default:
			if n, err := strconv.ParseFloat(v.text, 64); err == nil {
				lit = literal{kind: litNumber, n: n, s: v.text}
			} else if _, err := uuid.Parse(v.text); err == nil || isIdent(v.text) {
				lit = literal{kind: litBare, s: v.text}
			} else {
				return nil, fmt.Errorf("bad value %q", v.text)
			}
		}
	default:
		return nil, fmt.Errorf("unexpected %q", v.text)
	}
	if (op == "sw" || op == "ew" || op == "so") && lit.kind != litString && lit.kind != litBare {
		return nil, errors.New("sw, ew and so need a string")
	}
	return cmpNode{path: path, op: op, val: lit}, nil
}

func isIdent(s string) bool {
	for _, r := range s {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '_' && r != '@' {
			return false
		}
	}
	return s != ""
}

// checkPaths rejects property paths the entity does not have, as QRS does.
func checkPaths(n filterNode, t reflect.Type) error {
	switch n := n.(type) {
	case andNode:
		return errors.Join(checkPaths(n.l, t), checkPaths(n.r, t))
	case orNode:
		return errors.Join(checkPaths(n.l, t), checkPaths(n.r, t))
	case cmpNode:
		cur := t
		for _, seg := range n.path {
			for cur.Kind() == reflect.Pointer || cur.Kind() == reflect.Slice {
				cur = cur.Elem()
			}
			if cur.Kind() != reflect.Struct {
				return fmt.Errorf("unknown property %s", strings.Join(n.path, "."))
			}
			found := false
			for i := 0; i < cur.NumField(); i++ {
				name, _, _ := strings.Cut(cur.Field(i).Tag.Get("json"), ",")
				if strings.EqualFold(name, seg) {
					cur, found = cur.Field(i).Type, true
					break
				}
			}
			if !found {
				return fmt.Errorf("unknown property %s", strings.Join(n.path, "."))
			}
		}
	}
	return nil
}

// toGeneric turns a wire document into the maps and slices filters walk.
func toGeneric(doc any) any {
	b, err := json.Marshal(doc)
	if err != nil {
		panic(err) // wire types always marshal
	}
	var g any
	if err := json.Unmarshal(b, &g); err != nil {
		panic(err)
	}
	return g
}

func (n cmpNode) match(doc any) bool {
	return matchPath(doc, n.path, func(v any) bool { return compare(v, n.op, n.val) })
}

// matchPath walks path; collections match when any element does.
func matchPath(v any, path []string, leaf func(any) bool) bool {
	if arr, ok := v.([]any); ok {
		for _, e := range arr {
			if matchPath(e, path, leaf) {
				return true
			}
		}
		return false
	}
	if len(path) == 0 {
		return leaf(v)
	}
	m, ok := v.(map[string]any)
	if !ok {
		// A null reference (stream of an unpublished app): only ne and
		// eq null can match.
		return leaf(nil)
	}
	for k, child := range m {
		if strings.EqualFold(k, path[0]) {
			return matchPath(child, path[1:], leaf)
		}
	}
	return leaf(nil)
}

func compare(v any, op string, lit literal) bool {
	if lit.kind == litNull {
		isNull := v == nil
		switch op {
		case "eq":
			return isNull
		case "ne":
			return !isNull
		}
		return false
	}
	if v == nil {
		return op == "ne"
	}
	var c int // -1, 0, 1: v compared with the literal
	switch x := v.(type) {
	case bool:
		want := lit.b
		if lit.kind != litBool {
			want = strings.EqualFold(lit.s, "true")
		}
		return cmpResult(op, boolCmp(x, want))
	case float64:
		want := lit.n
		if lit.kind != litNumber {
			f, err := strconv.ParseFloat(lit.s, 64)
			if err != nil {
				return op == "ne"
			}
			want = f
		}
		switch {
		case x < want:
			c = -1
		case x > want:
			c = 1
		}
		return cmpResult(op, c)
	case string:
		ls := lit.s
		if lit.kind == litBool {
			ls = strconv.FormatBool(lit.b)
		}
		a, b := strings.ToLower(x), strings.ToLower(ls)
		switch op {
		case "sw":
			return strings.HasPrefix(a, b)
		case "ew":
			return strings.HasSuffix(a, b)
		case "so":
			return strings.Contains(a, b)
		}
		// Timestamps compare as times, whatever their precision.
		if ta, tb := parseTime(x), parseTime(ls); !ta.IsZero() && !tb.IsZero() {
			return cmpResult(op, ta.Compare(tb))
		}
		return cmpResult(op, strings.Compare(a, b))
	}
	return false
}

func boolCmp(a, b bool) int {
	if a == b {
		return 0
	}
	if !a {
		return -1
	}
	return 1
}

func cmpResult(op string, c int) bool {
	switch op {
	case "eq":
		return c == 0
	case "ne":
		return c != 0
	case "gt":
		return c > 0
	case "ge":
		return c >= 0
	case "lt":
		return c < 0
	case "le":
		return c <= 0
	}
	return false
}
