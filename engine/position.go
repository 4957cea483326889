package engine

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/expr-lang/expr/file"
	"gopkg.in/yaml.v3"

	"github.com/qs-promoter/qs-promoter/yamlread"
)

// PositionError is one problem in a policy or policy test file, at a 1-based
// line and column: the one error type of every file an admin writes.
type PositionError = yamlread.Error

// problems collects every error of a load, so that all are reported at once.
type problems struct {
	yamlread.Problems
}

func (p *problems) at(line, col int, format string, args ...any) {
	p.At(line, col, format, args...)
}

func (p *problems) node(n *yaml.Node, format string, args ...any) {
	p.Node(n, format, args...)
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

// exprError turns an expr compile error into a positioned error. positions
// maps rune offsets of the scalar value; offset is where the expression src
// starts inside that value. An expression that ends while a bracket is
// still open is reported at that bracket, naming where it ends: the missing
// ")" belongs somewhere between the two.
func (p *problems) exprError(positions []pos, offset int, src string, err error, names *friendlyNames) {
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
	end := positions[at]
	if msg == "unexpected token EOF" {
		if open, ok := unclosedBracket(src); ok {
			ps := positions[min(offset+open.at, len(positions)-1)]
			p.at(ps.line, ps.col, "this %q is never closed: the expression ends at %d:%d without its %q", string(open.char), end.line, end.col, string(closingOf[open.char]))
			return
		}
	}
	p.at(end.line, end.col, "%s", names.rewrite(msg))
}

var closingOf = map[rune]rune{'(': ')', '[': ']', '{': '}'}

type bracket struct {
	char rune
	at   int // rune offset in the expression
}

// unclosedBracket returns the last bracket of an expression left open
// (strings and comments skipped), the one the parser was inside when the
// text ended.
func unclosedBracket(src string) (bracket, bool) {
	runes := []rune(src)
	var stack []bracket
	for i := 0; i < len(runes); i++ {
		r := runes[i]
		switch {
		case r == '"' || r == '\'' || r == '`':
			for i++; i < len(runes) && runes[i] != r; i++ {
				if runes[i] == '\\' && r != '`' {
					i++
				}
			}
		case r == '/' && i+1 < len(runes) && runes[i+1] == '/':
			for i < len(runes) && runes[i] != '\n' {
				i++
			}
		case r == '/' && i+1 < len(runes) && runes[i+1] == '*':
			for i += 2; i+1 < len(runes) && !(runes[i] == '*' && runes[i+1] == '/'); i++ {
			}
			i++
		case closingOf[r] != 0:
			stack = append(stack, bracket{r, i})
		case r == ')' || r == ']' || r == '}':
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		}
	}
	if len(stack) == 0 {
		return bracket{}, false
	}
	return stack[len(stack)-1], true
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
	case `unexpected token Bracket(")")`, `unexpected token Bracket("]")`, `unexpected token Bracket("}")`:
		closing := msg[len(msg)-3 : len(msg)-2]
		opening := map[string]string{")": "(", "]": "[", "}": "{"}[closing]
		return fmt.Sprintf("this %q closes nothing: no %q before it is open", closing, opening)
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
			msg := fmt.Sprintf("%s has no %q%s (it has: %s)", t.name, m[2], suggest(m[2], t.fields), listOr(t.fields, "nothing"))
			if t.name == "config" {
				msg += "; a new key is declared under config: at the top of the file, with its default"
			}
			return msg
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
func suggest(word string, candidates []string) string { return yamlread.Suggest(word, candidates) }

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
