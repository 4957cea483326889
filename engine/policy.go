package engine

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"
)

// Ruleset is a compiled, immutable set of policies: what one load of the
// policy folder produced. Executions keep the Ruleset they started with.
type Ruleset struct {
	Revision string   // short sha256 of the file names and contents
	Files    []string // as given to Load, in evaluation order
	Policies []*Policy

	shape     *shape
	whenScope *scope
}

// Policy is one compiled policy.
type Policy struct {
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	File        string   `json:"file"`
	Line        int      `json:"line"`
	On          []string `json:"on"`
	When        string   `json:"when,omitempty"`
	Stop        bool     `json:"stop,omitempty"`
	Vars        []string `json:"vars,omitempty"` // names, in order
	Steps       []*Step  `json:"steps"`

	clauses []string    // the top-level `and` operands of when, for reasons
	match   *vm.Program // the when: a bool, or with several clauses the index of the first false one (0: all true)
	vars    []compiledVar

	// Reasons are built at load: evaluation is the hot path.
	matchReasons map[string]string // by event kind
	missReasons  []string          // by clause
	onText       string
}

// prepareReasons builds the reasons Evaluate reports.
func (p *Policy) prepareReasons() {
	p.onText = strings.Join(p.On, ", ")
	p.matchReasons = make(map[string]string, len(p.On))
	for _, k := range p.On {
		switch {
		case p.match == nil:
			p.matchReasons[k] = "the event is " + k + " (no when)"
		case len(p.clauses) == 1:
			p.matchReasons[k] = "the event is " + k + " and when is true"
		default:
			p.matchReasons[k] = fmt.Sprintf("the event is %s and all %d when clauses are true", k, len(p.clauses))
		}
	}
	p.missReasons = make([]string, len(p.clauses))
	for i, c := range p.clauses {
		if len(p.clauses) == 1 {
			p.missReasons[i] = "when is false: " + c
		} else {
			p.missReasons[i] = fmt.Sprintf("when clause %d of %d is false: %s", i+1, len(p.clauses), c)
		}
	}
}

type compiledVar struct {
	name  string
	prog  *vm.Program
	scope *scope
}

// Step is one compiled step of a policy.
type Step struct {
	ID       string `json:"id"`
	Action   string `json:"action"`
	If       string `json:"if,omitempty"`
	Continue bool   `json:"continue_on_error,omitempty"` // on_error: continue
	Line     int    `json:"line"`

	spec   ActionSpec
	ifProg *vm.Program
	scope  *scope
	params []*paramExpr
}

// Spec returns the spec of the step's action.
func (s *Step) Spec() ActionSpec { return s.spec }

// paramExpr is one parameter of a step, compiled.
type paramExpr struct {
	spec    Param
	set     bool        // given in the policy (else the default applies)
	literal any         // the converted value when no template is involved
	tpl     *template   // a scalar template
	items   []paramItem // list kinds (strings, targets)
	isList  bool
	tree    *anyTree // KindAny written as a YAML mapping or list holding templates
}

// anyTree is a KindAny value written in YAML (a JSON body), whose strings
// may be templates: resolved, it is a map[string]any, []any or a value.
type anyTree struct {
	keys    []string   // a mapping's keys, in order
	items   []*anyTree // a mapping's values (by keys) or a list's items
	isMap   bool
	isList  bool
	tpl     *template
	literal any
}

type paramItem struct {
	literal any // string or Target
	tpl     *template
}

// splitClauses returns the rune spans of src's top-level `and` operands.
// A span that would not parse on its own (inside parentheses) is kept whole.
func splitClauses(src string) [][2]int {
	runes := []rune(src)
	whole := [][2]int{{0, len(runes)}}
	tree, err := parser.Parse(src)
	if err != nil {
		return whole
	}
	parses := func(from, to int) bool {
		if from < 0 || to > len(runes) || from >= to {
			return false
		}
		_, err := parser.Parse(string(runes[from:to]))
		return err == nil
	}
	var collect func(n ast.Node, from, to int) [][2]int
	collect = func(n ast.Node, from, to int) [][2]int {
		b, ok := n.(*ast.BinaryNode)
		if !ok || (b.Operator != "and" && b.Operator != "&&") {
			return [][2]int{{from, to}}
		}
		loc := b.Location()
		if loc.From <= from || loc.To >= to || !parses(from, loc.From) || !parses(loc.To, to) {
			return [][2]int{{from, to}}
		}
		return append(collect(b.Left, from, loc.From), collect(b.Right, loc.To, to)...)
	}
	return collect(tree.Node, 0, len(runes))
}

// kindAccepts says whether an expression of static type t can become a
// parameter of kind k ("" if so, else what is wrong).
func kindAccepts(k Kind, t reflect.Type) string {
	if t == nil || t.Kind() == reflect.Interface {
		return "" // known only at run time
	}
	isList := t.Kind() == reflect.Slice || t.Kind() == reflect.Array
	elem := func() reflect.Type { return t.Elem() }
	switch k {
	case KindBool:
		if t.Kind() != reflect.Bool {
			return "wants true or false"
		}
	case KindInt:
		switch t.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float64, reflect.Float32:
		default:
			return "wants a whole number"
		}
	case KindStrings:
		if t.Kind() == reflect.String {
			return ""
		}
		if !isList || (elem().Kind() != reflect.String && elem().Kind() != reflect.Interface) {
			return "wants a string or a list of strings"
		}
	case KindTargets:
		if t.Kind() == reflect.String {
			return ""
		}
		if !isList || (elem().Kind() != reflect.String && elem().Kind() != reflect.Interface && elem() != reflect.TypeOf(Target{})) {
			return "wants targets (e.g. targets(app.properties.PromoteToServer)) or \"<site> - Overwrite\" strings"
		}
	}
	return ""
}

func kindWord(k Kind) string {
	switch k {
	case KindString:
		return "one line of text"
	case KindText, KindHTML:
		return "text"
	case KindBool:
		return "true or false"
	case KindInt:
		return "a whole number"
	case KindStrings:
		return "a string or a list of strings"
	case KindTargets:
		return "targets"
	}
	return "a value"
}

func isIdentifier(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (i > 0 && r >= '0' && r <= '9') {
			continue
		}
		return false
	}
	return true
}

// validName is the rule for policy names and step ids: they appear in
// step keys ("<policy>/<step>"), logs and URLs.
func validName(s string) bool {
	if s == "" || strings.TrimSpace(s) != s {
		return false
	}
	for _, r := range s {
		if r == '/' || r < ' ' {
			return false
		}
	}
	return true
}
