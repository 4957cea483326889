package engine

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/expr-lang/expr/file"
	"gopkg.in/yaml.v3"
)

// PositionError is one problem in a policy file, at a 1-based line and
// column (Col 0: the column is unknown, as for some YAML syntax errors).
type PositionError struct {
	File string
	Line int
	Col  int
	Msg  string
}

// Error formats the problem as file:line:col: message (file:line: when Col is 0).
func (e *PositionError) Error() string {
	if e.Col <= 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
}

// problems collects every error of a load, so that all are reported at once.
type problems struct {
	file string
	errs []error
}

func (p *problems) at(line, col int, format string, args ...any) {
	p.errs = append(p.errs, &PositionError{File: p.file, Line: line, Col: col, Msg: fmt.Sprintf(format, args...)})
}

func (p *problems) node(n *yaml.Node, format string, args ...any) {
	p.at(n.Line, n.Column, format, args...)
}

// sortErrors orders positioned errors by file, line and column.
func sortErrors(errs []error) {
	sort.SliceStable(errs, func(i, j int) bool {
		var a, b *PositionError
		if !errors.As(errs[i], &a) || !errors.As(errs[j], &b) {
			return false
		}
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
}

var yamlLineError = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// YAMLSyntaxError positions one of yaml.v3's syntax errors (which carry a
// line but no column). Two mistakes admins make often get their own
// message at their own position, as yaml.v3 reports both far from where
// they are: a tab in the indentation, and a value that starts with a quote
// but goes on after the closing one (when: "x" in app.tags).
func YAMLSyntaxError(fileName string, data []byte, err error) error {
	msg := err.Error()
	m := yamlLineError.FindStringSubmatch(msg)
	if m == nil {
		return &PositionError{File: fileName, Line: 1, Msg: "YAML syntax: " + strings.TrimPrefix(msg, "yaml: ")}
	}
	line, _ := strconv.Atoi(m[1])
	lines := strings.Split(string(data), "\n")
	from := max(line-2, 0)
	if strings.Contains(m[2], "tab character") || strings.Contains(m[2], "cannot start any token") {
		for i := from; i < len(lines); i++ {
			indent := lines[i][:len(lines[i])-len(strings.TrimLeft(lines[i], " \t"))]
			if j := strings.IndexByte(indent, '\t'); j >= 0 {
				return &PositionError{File: fileName, Line: i + 1, Col: j + 1, Msg: "YAML syntax: a tab in the indentation; indent with spaces only"}
			}
		}
	}
	if strings.HasPrefix(m[2], "did not find expected") || strings.HasPrefix(m[2], "could not find expected") {
		for i := from; i < len(lines); i++ {
			if col, value, ok := quotedThenText(lines[i]); ok {
				whole := "write it on the next lines after >"
				switch {
				case !strings.Contains(value, "'"):
					whole = fmt.Sprintf("quote it whole ('%s'), or %s", value, whole)
				case !strings.Contains(value, `"`):
					whole = fmt.Sprintf("quote it whole (\"%s\"), or %s", value, whole)
				}
				return &PositionError{File: fileName, Line: i + 1, Col: col, Msg: "YAML syntax: this value starts with a quote, so it must end with one: " + whole}
			}
		}
		if strings.HasPrefix(m[2], "did not find expected") {
			// yaml.v3 reports a parser error at the 0-based line where the
			// unfinished list or mapping starts.
			return &PositionError{File: fileName, Line: line + 1, Msg: "YAML syntax: " + m[2] + " (in the list or mapping that starts on this line)"}
		}
	}
	return &PositionError{File: fileName, Line: line, Msg: "YAML syntax: " + m[2]}
}

var quotedValueRe = regexp.MustCompile(`^\s*(?:-\s+)?[A-Za-z_][\w.-]*:\s+(["'])`)

// quotedThenText finds `key: "…" more` on a line: a quoted scalar followed
// by text, which YAML rejects. It returns the 1-based column of the text
// after the closing quote, and the value as written after the key.
func quotedThenText(line string) (int, string, bool) {
	line = strings.TrimRight(line, "\r")
	m := quotedValueRe.FindStringSubmatchIndex(line)
	if m == nil {
		return 0, "", false
	}
	start, q := m[2], line[m[2]]
	end := -1
	for i := start + 1; i < len(line); i++ {
		if q == '"' && line[i] == '\\' {
			i++
			continue
		}
		if line[i] == q {
			if q == '\'' && i+1 < len(line) && line[i+1] == '\'' {
				i++ // '' is one quote
				continue
			}
			end = i
			break
		}
	}
	if end < 0 {
		return 0, "", false
	}
	rest := strings.TrimLeft(line[end+1:], " \t")
	if rest == "" || strings.ContainsRune(",]}#", rune(rest[0])) {
		return 0, "", false
	}
	value := strings.TrimSpace(line[start:])
	if i := strings.Index(value, " #"); i >= 0 {
		value = strings.TrimSpace(value[:i])
	}
	return utf8.RuneCountInString(line[:len(line)-len(rest)]) + 1, value, true
}

// source maps offsets inside a YAML scalar's value back to the file, so
// that an error inside an expression points at the file's line and column
// even in block scalars (| and >), folded plain scalars and quoted strings.
type source struct {
	lines [][]rune // the file, split into lines
}

func newSource(data []byte) *source {
	s := &source{}
	for _, l := range strings.Split(string(data), "\n") {
		s.lines = append(s.lines, []rune(strings.TrimSuffix(l, "\r")))
	}
	return s
}

// pos is a 1-based file position.
type pos struct{ line, col int }

// scalar returns the file position of every rune of n.Value, plus one
// position past the end.
func (s *source) scalar(n *yaml.Node) []pos {
	line, col := n.Line-1, n.Column-1 // 0-based cursor into s.lines
	switch n.Style {
	case yaml.DoubleQuotedStyle, yaml.SingleQuotedStyle:
		col++
	case yaml.LiteralStyle, yaml.FoldedStyle:
		line, col = line+1, 0
	}
	at := func() rune {
		if line < 0 || line >= len(s.lines) {
			return 0
		}
		if col >= len(s.lines[line]) {
			return '\n'
		}
		return s.lines[line][col]
	}
	advance := func(k int) {
		for ; k > 0; k-- {
			if line >= len(s.lines) {
				return
			}
			if col >= len(s.lines[line]) {
				line, col = line+1, 0
			} else {
				col++
			}
		}
	}
	skipSpace := func() {
		for line < len(s.lines) {
			r := at()
			if r == ' ' || r == '\t' || r == '\n' {
				advance(1)
			} else if n.Style == yaml.DoubleQuotedStyle && r == '\\' && col+1 >= len(s.lines[line]) {
				advance(1) // an escaped line break
			} else {
				return
			}
		}
	}
	// escape is the source length of the double-quoted escape at the
	// cursor (\t, \x41, \u00e9…), 0 if there is none.
	escape := func() int {
		if n.Style != yaml.DoubleQuotedStyle || at() != '\\' || line >= len(s.lines) || col+1 >= len(s.lines[line]) {
			return 0
		}
		switch s.lines[line][col+1] {
		case 'x':
			return 4
		case 'u':
			return 6
		case 'U':
			return 10
		}
		return 2
	}
	value := []rune(n.Value)
	out := make([]pos, 0, len(value)+1)
	for _, v := range value {
		if v == ' ' || v == '\n' || v == '\t' {
			out = append(out, pos{line + 1, col + 1})
			if k := escape(); k > 0 {
				advance(k) // white space written as \t, \n, \x20…
			} else if r := at(); r == ' ' || r == '\t' || r == '\n' {
				advance(1)
			}
			continue
		}
		skipSpace()
		out = append(out, pos{line + 1, col + 1})
		r := at()
		switch {
		case n.Style == yaml.SingleQuotedStyle && r == '\'':
			advance(2) // '' is one quote
		case escape() > 0:
			advance(escape())
		case r == v:
			advance(1)
		default:
			advance(1) // out of step: best effort
		}
	}
	out = append(out, pos{line + 1, col + 1})
	return out
}

// exprError turns an expr compile error into positioned errors. positions
// maps rune offsets of the scalar value; offset is where the expression
// starts inside that value.
func (p *problems) exprError(positions []pos, offset int, err error, names *friendlyNames) {
	var fe *file.Error
	at := offset
	msg := err.Error()
	if errors.As(err, &fe) {
		at += fe.From
		msg = fe.Message
	}
	if at >= len(positions) {
		at = len(positions) - 1
	}
	ps := positions[at]
	p.at(ps.line, ps.col, "%s", names.rewrite(msg))
}

// friendlyNames rewrites expr's Go-flavoured messages into the policy
// language's names ("type engine.AppFacts has no field nme" becomes
// `app has no fact "nme"`).
type friendlyNames struct {
	types map[string]friendlyType // reflect type string → name
}

type friendlyType struct {
	name   string
	fields []string
}

var (
	noFieldRe     = regexp.MustCompile(`^type (.+) has no field (\S+)$`)
	unknownNameRe = regexp.MustCompile(`^unknown name (\S+)$`)
	notBoolRe     = regexp.MustCompile(`^expected bool, but got (.+)$`)
)

func (f *friendlyNames) rewrite(msg string) string {
	switch msg {
	case `unexpected token Operator("=")`:
		return `"=" assigns nothing here: compare with ==`
	case "unexpected token EOF":
		return "the expression ends too early: something is missing at its end"
	}
	if m := notBoolRe.FindStringSubmatch(msg); m != nil {
		what := "a " + m[1]
		switch {
		case strings.HasPrefix(m[1], "int"), strings.HasPrefix(m[1], "float"):
			what = "a number"
		case strings.HasPrefix(m[1], "[]"):
			what = "a list"
		case strings.HasPrefix(m[1], "map"):
			what = "a mapping"
		}
		return fmt.Sprintf(`a condition must be true or false, and this gives %s: compare it (app.name == "x") or use is_true(...)`, what)
	}
	if m := noFieldRe.FindStringSubmatch(msg); m != nil {
		if t, ok := f.types[strings.TrimPrefix(m[1], "*")]; ok {
			return fmt.Sprintf("%s has no %q%s (it has: %s)", t.name, m[2], suggest(m[2], t.fields), listOr(t.fields, "nothing"))
		}
	}
	if m := unknownNameRe.FindStringSubmatch(msg); m != nil {
		top := []string{"app", "event", "config", "vars", "steps"}
		return fmt.Sprintf("unknown name %q%s (the names are %s, and the helper functions)", m[1], suggest(m[1], top), strings.Join(top, ", "))
	}
	return msg
}

func listOr(items []string, empty string) string {
	if len(items) == 0 {
		return empty
	}
	return strings.Join(items, ", ")
}

// suggest returns `; did you mean "x"?` for the closest candidate, if any is close.
func suggest(word string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		if d := editDistance(strings.ToLower(word), strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	if best == "" || best == word {
		return ""
	}
	return fmt.Sprintf("; did you mean %q?", best)
}

func editDistance(a, b string) int {
	if utf8.RuneCountInString(a) > 64 || utf8.RuneCountInString(b) > 64 {
		return 99
	}
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// runError shortens an expr run-time error to its message: the snippet
// expr adds spans lines, and the expression is named by the caller.
func runError(err error) error {
	var fe *file.Error
	if errors.As(err, &fe) {
		err = errors.New(fe.Message)
	}
	if strings.Contains(err.Error(), "interface {} is nil") {
		// expr's words for using a missing value, typically a config.<key>
		// that the configuration does not set (untyped without one).
		return fmt.Errorf("%w: a value is missing (nil); is a config.<key> it reads not set? `?? default` gives one", err)
	}
	return err
}
