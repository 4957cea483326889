package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"
	"gopkg.in/yaml.v3"

	"github.com/qs-promoter/qs-promoter/yamlread"
)

// LoadOptions is what the loader checks policies against. The daemon,
// check, dry-run, test and the demo build them in one place
// (daemon.PolicyOptions), so that every command loads as serve does.
type LoadOptions struct {
	// Specs are the actions steps may name (actions.Specs()).
	Specs map[string]ActionSpec
	// Sites are the configured site aliases that targets() and target
	// parameters accept. Empty: any alias is accepted.
	Sites []string
	// Builtin are the config.<key> values the daemon sets itself from its
	// configuration (sites, mail_enabled, s3_enabled): every policy reads
	// them without declaring them, each typed by its value; vars may not
	// set them.
	Builtin map[string]any
	// Vars are the values the daemon configuration's vars: gives: each must
	// be a key some policy file declares under config:, of its default's
	// type, else the load fails at the setting's position.
	Vars []Setting
}

// Setting is one value of the daemon configuration's vars:, and where it
// is written (for errors).
type Setting struct {
	Key   string
	Value any
	// KeyAt and ValueAt locate the key and its value in the configuration.
	KeyAt, ValueAt yamlread.Pos
}

// PolicyFiles lists the policy files of dir in evaluation order: *.yaml and
// *.yml, not the *_test.yaml policy tests.
func PolicyFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading the policy folder: %w", err)
	}
	var out []string
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || strings.HasPrefix(n, ".") || isTestFile(n) {
			continue
		}
		if strings.HasSuffix(n, ".yaml") || strings.HasSuffix(n, ".yml") {
			out = append(out, filepath.Join(dir, n))
		}
	}
	sort.Strings(out)
	return out, nil
}

func isTestFile(name string) bool {
	return strings.HasSuffix(name, "_test.yaml") || strings.HasSuffix(name, "_test.yml")
}

// Load reads and compiles every policy file of dir. The error joins every
// problem found, each a *PositionError where the file is known.
func Load(dir string, opts LoadOptions) (*Ruleset, error) {
	names, err := PolicyFiles(dir)
	if err != nil {
		return nil, err
	}
	files := make(map[string][]byte, len(names))
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			return nil, err
		}
		files[n] = b
	}
	return LoadFiles(files, opts)
}

// LoadFiles compiles policy files given by name; names are sorted for the
// evaluation order. The files are read in two passes: first every file's
// config: declarations (a policy reads a config.<key> that its own file
// declares, or a built-in one), then the policies.
func LoadFiles(files map[string][]byte, opts LoadOptions) (*Ruleset, error) {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)

	var errs []error
	roots := make(map[string]*yaml.Node, len(names))
	for _, name := range names {
		root, err := yamlread.Parse(name, files[name])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		roots[name] = root
	}
	decls := &declarations{byFile: map[string]map[string]*declaration{}, builtin: opts.Builtin}
	for _, name := range names {
		if root := roots[name]; root != nil {
			p := &problems{yamlread.Problems{File: name}}
			decls.read(p, root)
			errs = append(errs, p.Errs...)
		}
	}
	values, verrs := decls.apply(opts.Vars)
	errs = append(errs, verrs...)

	sh := newShape(opts.Sites, decls.examples(), values)
	rs := &Ruleset{Files: names, Revision: revision(names, files), shape: sh, whenScope: sh.scope(nil, nil)}
	seen := map[string]*Policy{}
	for _, name := range names {
		root := roots[name]
		if root == nil {
			continue // empty, or a syntax error (reported)
		}
		l := &loader{problems: problems{yamlread.Problems{File: name}}, src: newSource(files[name]), sh: sh, opts: opts, rs: rs, seen: seen,
			decls: decls, declared: decls.byFile[name]}
		l.loadFile(root)
		errs = append(errs, l.Errs...)
	}
	if len(errs) > 0 {
		yamlread.Sort(errs)
		return nil, errors.Join(errs...)
	}
	return rs, nil
}

func revision(names []string, files map[string][]byte) string {
	h := sha256.New()
	for _, n := range names {
		fmt.Fprintf(h, "%s\x00%d\x00", filepath.Base(n), len(files[n]))
		h.Write(files[n])
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// loader compiles one file.
type loader struct {
	problems
	src      *source
	sh       *shape
	opts     LoadOptions
	rs       *Ruleset
	seen     map[string]*Policy
	decls    *declarations
	declared map[string]*declaration // by this file
}

var fileKeys = []string{"config", "policies"}

func (l *loader) loadFile(root *yaml.Node) {
	if root.Kind != yaml.MappingNode {
		if yamlread.IsNull(root) {
			return
		}
		l.node(root, "a policy file is a mapping with the key policies: (and config:, the configuration keys it reads)")
		return
	}
	l.Mapping(root, "the file", fileKeys, func(key string, k, v *yaml.Node) {
		if key != "policies" || yamlread.IsNull(v) {
			return // config: was read before
		}
		if v.Kind != yaml.SequenceNode {
			l.node(v, "policies: wants a list of policies (each item starting with \"- name:\")")
			return
		}
		for _, item := range v.Content {
			l.policy(item)
		}
	})
}

// compile compiles an expression of this file: as the shape does, and then
// every config.<key> it reads must be declared by this file or built in.
func (l *loader) compile(sc *scope, src string, asBool bool) (*vm.Program, error) {
	prog, err := l.sh.compile(sc, src, asBool)
	if err != nil {
		return nil, err
	}
	if err := l.decls.checkReads(prog, l.declared); err != nil {
		return nil, err
	}
	return prog, nil
}

// scalar returns the node's text if it is a scalar, else reports it.
func (l *loader) scalar(n *yaml.Node, what string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		l.node(n, "%s wants a single value, not a %s", what, nodeKind(n))
		return "", false
	}
	return n.Value, true
}

func nodeKind(n *yaml.Node) string { return yamlread.Kind(n) }

var policyKeys = []string{"name", "description", "on", "when", "vars", "steps", "stop"}

func (l *loader) policy(n *yaml.Node) {
	if n.Kind != yaml.MappingNode {
		l.node(n, "a policy is a mapping (name:, on:, when:, steps:), not a %s", nodeKind(n))
		return
	}
	p := &Policy{File: l.File, Line: n.Line}
	var nameNode, onNode, whenNode, varsNode, stepsNode *yaml.Node
	l.Mapping(n, "a policy", policyKeys, func(key string, k, v *yaml.Node) {
		switch key {
		case "name":
			nameNode = v
			p.Name, _ = l.scalar(v, "name")
		case "description":
			p.Description, _ = l.scalar(v, "description")
		case "on":
			onNode = v
		case "when":
			whenNode = v
		case "vars":
			varsNode = v
		case "steps":
			stepsNode = v
		case "stop":
			if v.Kind != yaml.ScalarNode || v.Tag != "!!bool" {
				l.node(v, "stop: wants true or false, not %q", v.Value)
				return
			}
			_ = v.Decode(&p.Stop)
		}
	})
	switch {
	case nameNode == nil:
		l.node(n, "the policy has no name:")
	case !validName(p.Name):
		l.node(nameNode, "policy name %q: use letters, digits, spaces, - and _, without / or surrounding spaces", p.Name)
	default:
		if first, dup := l.seen[p.Name]; dup {
			l.node(nameNode, "duplicate policy name %q (first defined at %s:%d)", p.Name, first.File, first.Line)
		} else {
			l.seen[p.Name] = p
		}
	}
	if onNode == nil {
		l.node(n, "the policy has no on: (the event kinds it runs on: %s)", strings.Join(EventKinds, ", "))
	} else {
		p.On = l.on(onNode)
	}
	if whenNode != nil {
		if src, ok := l.scalar(whenNode, "when"); ok {
			p.When = strings.TrimSpace(src)
			l.when(p, whenNode)
		}
	}
	if varsNode != nil {
		l.vars(p, varsNode)
	}
	varDefs := make([]varDef, len(p.vars))
	for i, v := range p.vars {
		varDefs[i] = varDef{name: v.name, typ: programType(v.prog)}
	}
	if stepsNode == nil {
		l.node(n, "the policy has no steps: (the actions to run when it matches)")
	} else if stepsNode.Kind != yaml.SequenceNode {
		l.node(stepsNode, "steps: wants a list of steps (each item starting with \"- action:\")")
	} else if len(stepsNode.Content) == 0 {
		l.node(stepsNode, "steps: is empty; a policy needs at least one step (\"- action: …\")")
	} else {
		ids := map[string]*Step{}
		var before []string
		for _, sn := range stepsNode.Content {
			s := l.step(sn, varDefs, before)
			if s == nil {
				continue
			}
			if first, dup := ids[s.ID]; dup {
				l.at(sn.Line, sn.Column, "duplicate step id %q in policy %q (first at line %d): give each step its own id", s.ID, p.Name, first.Line)
				continue
			}
			ids[s.ID] = s
			before = append(before, s.ID)
			p.Steps = append(p.Steps, s)
		}
	}
	p.prepareReasons()
	l.rs.Policies = append(l.rs.Policies, p)
}

// EventKinds are the kinds a policy's on: can name.
var EventKinds = []string{KindCreated, KindUpdated, KindPublished, KindReloaded, KindDeleted, KindReconciled, KindManual}

func (l *loader) on(n *yaml.Node) []string {
	var items []*yaml.Node
	switch n.Kind {
	case yaml.ScalarNode:
		items = []*yaml.Node{n}
	case yaml.SequenceNode:
		items = n.Content
	default:
		l.node(n, "on: wants an event kind or a list of them (%s)", strings.Join(EventKinds, ", "))
		return nil
	}
	var out []string
	for _, it := range items {
		v, ok := l.scalar(it, "an event kind")
		if !ok {
			continue
		}
		k := normalise(v)
		if !slices.Contains(EventKinds, k) {
			l.node(it, "unknown event kind %q%s (known: %s)", v, suggest(k, EventKinds), strings.Join(EventKinds, ", "))
			continue
		}
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	if len(out) == 0 && len(items) == 0 {
		l.node(n, "on: names no event kind (known: %s)", strings.Join(EventKinds, ", "))
	}
	return out
}

// when compiles the condition. With several top-level `and` clauses it is
// compiled as one program returning the index of the first false clause
// (nested conditionals short-circuit exactly as `and` does), so that a miss
// says which clause was false at the cost of a single run.
func (l *loader) when(p *Policy, n *yaml.Node) {
	positions := l.src.scalar(n)
	full, err := l.compile(l.rs.whenScope, n.Value, true)
	if err != nil {
		l.exprError(positions, 0, n.Value, err, l.sh.names)
		return
	}
	p.match, p.clauses = full, []string{oneLine(n.Value)}
	runes := []rune(n.Value)
	spans := splitClauses(n.Value)
	if len(spans) < 2 {
		return
	}
	clauses := make([]string, len(spans))
	for i, sp := range spans {
		clauses[i] = string(runes[sp[0]:sp[1]])
		// Each clause must be a condition on its own (it is, in a when that compiled).
		if _, err := l.compile(l.rs.whenScope, clauses[i], true); err != nil {
			return
		}
	}
	index := "0"
	for i := len(clauses) - 1; i >= 0; i-- {
		index = fmt.Sprintf("(%s) ? (%s) : %d", clauses[i], index, i+1)
	}
	prog, err := l.compile(l.rs.whenScope, index, false)
	if err != nil {
		return
	}
	p.match = prog
	p.clauses = p.clauses[:0]
	for _, c := range clauses {
		p.clauses = append(p.clauses, oneLine(c))
	}
}

// oneLine collapses white space so a clause reads well in a reason.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func (l *loader) vars(p *Policy, n *yaml.Node) {
	if n.Kind != yaml.MappingNode {
		l.node(n, "vars: wants a mapping of names to expressions")
		return
	}
	var defs []varDef
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !isIdentifier(k.Value) {
			l.node(k, "var name %q: use letters, digits and _ (it is read as vars.%s)", k.Value, k.Value)
			continue
		}
		if slices.Contains(p.Vars, k.Value) {
			l.node(k, "var %q given twice", k.Value)
			continue
		}
		src, ok := l.scalar(v, "a var")
		if !ok {
			continue
		}
		sc := l.sh.scope(defs, nil)
		prog, err := l.compile(sc, src, false)
		if err != nil {
			l.exprError(l.src.scalar(v), 0, src, err, l.sh.names)
		}
		p.Vars = append(p.Vars, k.Value)
		p.vars = append(p.vars, compiledVar{name: k.Value, prog: prog, scope: sc})
		defs = append(defs, varDef{name: k.Value, typ: programType(prog)})
	}
}

var anyType = reflect.TypeOf((*any)(nil)).Elem()

// programType is the static type of a compiled expression (any when unknown).
func programType(prog interface{ Node() ast.Node }) reflect.Type {
	if prog == nil || reflect.ValueOf(prog).IsNil() {
		return anyType
	}
	t := prog.Node().Type()
	if t == nil {
		return anyType
	}
	return t
}

var stepKeys = []string{"id", "action", "if", "on_error", "with"}

func (l *loader) step(n *yaml.Node, vars []varDef, before []string) *Step {
	if n.Kind != yaml.MappingNode {
		l.node(n, "a step is a mapping (action:, with:), not a %s", nodeKind(n))
		return nil
	}
	s := &Step{Line: n.Line}
	var actionNode, idNode, ifNode, withNode *yaml.Node
	l.Mapping(n, "a step", stepKeys, func(key string, k, v *yaml.Node) {
		switch key {
		case "id":
			idNode = v
			s.ID, _ = l.scalar(v, "id")
		case "action":
			actionNode = v
			s.Action, _ = l.scalar(v, "action")
		case "if":
			ifNode = v
		case "on_error":
			switch v.Value {
			case "stop":
			case "continue":
				s.Continue = true
			default:
				l.node(v, "on_error: wants stop (the default) or continue, not %q", v.Value)
			}
		case "with":
			withNode = v
		}
	})
	if actionNode == nil {
		l.node(n, "the step has no action: (one of: %s)", strings.Join(specNames(l.opts.Specs), ", "))
		return nil
	}
	spec, ok := l.opts.Specs[s.Action]
	if !ok {
		l.node(actionNode, "unknown action %q%s (known: %s)", s.Action, suggest(s.Action, specNames(l.opts.Specs)), listOr(specNames(l.opts.Specs), "none registered"))
	}
	s.spec = spec
	if idNode == nil {
		s.ID = s.Action
	} else if !validName(s.ID) {
		l.node(idNode, "step id %q: use letters, digits, - and _, without /", s.ID)
	}
	s.scope = l.sh.scope(vars, before)
	if ifNode != nil {
		if src, ok := l.scalar(ifNode, "if"); ok {
			s.If = strings.TrimSpace(src)
			prog, err := l.compile(s.scope, src, true)
			if err != nil {
				l.exprError(l.src.scalar(ifNode), 0, src, err, l.sh.names)
			}
			s.ifProg = prog
		}
	}
	if ok {
		l.params(s, withNode, actionNode)
	}
	return s
}

func specNames(specs map[string]ActionSpec) []string {
	out := make([]string, 0, len(specs))
	for n := range specs {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func paramNames(ps []Param) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Name
	}
	return out
}

func (l *loader) params(s *Step, with *yaml.Node, actionNode *yaml.Node) {
	given := map[string]*yaml.Node{}
	if with != nil {
		if with.Kind != yaml.MappingNode {
			if !(with.Kind == yaml.ScalarNode && with.Tag == "!!null") {
				l.node(with, "with: wants a mapping of parameter names to values")
			}
		} else {
			known := paramNames(s.spec.Params)
			for i := 0; i+1 < len(with.Content); i += 2 {
				k, v := with.Content[i], with.Content[i+1]
				if !slices.Contains(known, k.Value) {
					l.node(k, "unknown parameter %q for action %s%s (its parameters: %s)", k.Value, s.spec.Name, suggest(k.Value, known), listOr(known, "none"))
					continue
				}
				if _, dup := given[k.Value]; dup {
					l.node(k, "parameter %q given twice", k.Value)
					continue
				}
				given[k.Value] = v
			}
		}
	}
	for _, ps := range s.spec.Params {
		v, ok := given[ps.Name]
		if !ok {
			if ps.Required {
				at := actionNode
				if with != nil {
					at = with
				}
				l.node(at, "action %s needs parameter %q (%s)", s.spec.Name, ps.Name, ps.Doc)
			}
			s.params = append(s.params, &paramExpr{spec: ps})
			continue
		}
		s.params = append(s.params, l.param(ps, v, s.scope))
	}
}

// param compiles one parameter value against its declared kind.
func (l *loader) param(ps Param, n *yaml.Node, sc *scope) *paramExpr {
	pe := &paramExpr{spec: ps, set: true}
	what := fmt.Sprintf("parameter %q", ps.Name)
	switch ps.Kind {
	case KindStrings, KindTargets:
		pe.isList = true
		var items []*yaml.Node
		switch n.Kind {
		case yaml.SequenceNode:
			items = n.Content
		case yaml.ScalarNode:
			if n.Tag != "!!null" {
				items = []*yaml.Node{n}
			}
		default:
			if !(ps.Kind == KindTargets && n.Kind == yaml.MappingNode) {
				l.node(n, "%s wants %s, not a %s", what, kindWord(ps.Kind), nodeKind(n))
				return pe
			}
			items = []*yaml.Node{n}
		}
		for _, it := range items {
			if item, ok := l.listItem(ps, it, sc, what); ok {
				pe.items = append(pe.items, item)
			}
		}
		return pe
	case KindAny:
		if n.Kind == yaml.ScalarNode && n.Tag == "!!str" && hasTemplate(n.Value) {
			pe.tpl = l.template(n, sc, ps.Kind, what)
			return pe
		}
		if (n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode) && holdsTemplate(n) {
			pe.tree = l.anyTree(n, sc, what)
			return pe
		}
		var v any
		if err := n.Decode(&v); err != nil {
			l.node(n, "%s: %v", what, err)
		}
		pe.literal = v
		return pe
	}
	if n.Kind != yaml.ScalarNode {
		l.node(n, "%s wants %s, not a %s", what, kindWord(ps.Kind), nodeKind(n))
		return pe
	}
	if n.Tag == "!!str" && hasTemplate(n.Value) {
		pe.tpl = l.template(n, sc, ps.Kind, what)
		if pe.tpl != nil && !pe.tpl.whole && (ps.Kind == KindBool || ps.Kind == KindInt) {
			l.node(n, "%s wants %s: write a literal or exactly one {{ expression }}", what, kindWord(ps.Kind))
		}
		if pe.tpl != nil && !pe.tpl.whole && ps.Kind == KindString {
			for _, part := range pe.tpl.parts {
				if part.prog == nil && strings.ContainsAny(part.text, "\r\n") {
					l.node(n, "%s is one line of text; it holds a line break", what)
					break
				}
			}
		}
		return pe
	}
	switch ps.Kind {
	case KindBool, KindInt:
		// Quoted text converts as a template's would ("true", "5").
		v, err := convert(ps.Kind, n.Value, l.sh.sites)
		if err != nil || (n.Tag != "!!str" && n.Tag != "!!bool" && n.Tag != "!!int") {
			l.node(n, "%s wants %s, not %q", what, kindWord(ps.Kind), n.Value)
			return pe
		}
		pe.literal = v
	case KindString:
		if strings.ContainsAny(n.Value, "\r\n") {
			l.node(n, "%s is one line of text; it holds a line break", what)
		}
		pe.literal = n.Value
	default:
		pe.literal = n.Value
	}
	return pe
}

// holdsTemplate reports a string with {{ }} anywhere in n.
func holdsTemplate(n *yaml.Node) bool {
	if n.Kind == yaml.ScalarNode {
		return n.Tag == "!!str" && hasTemplate(n.Value)
	}
	for _, c := range n.Content {
		if holdsTemplate(c) {
			return true
		}
	}
	return false
}

// anyTree compiles a YAML mapping or list whose strings may be templates
// (mapping keys are literal).
func (l *loader) anyTree(n *yaml.Node, sc *scope, what string) *anyTree {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	t := &anyTree{}
	switch n.Kind {
	case yaml.MappingNode:
		t.isMap = true
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if slices.Contains(t.keys, k.Value) {
				l.node(k, "%s: %s", what, yamlread.Twice(k.Value, "this mapping"))
				continue
			}
			t.keys = append(t.keys, k.Value)
			t.items = append(t.items, l.anyTree(n.Content[i+1], sc, what))
		}
	case yaml.SequenceNode:
		t.isList = true
		for _, it := range n.Content {
			t.items = append(t.items, l.anyTree(it, sc, what))
		}
	default:
		if n.Tag == "!!str" && hasTemplate(n.Value) {
			t.tpl = l.template(n, sc, KindAny, what)
			return t
		}
		if err := n.Decode(&t.literal); err != nil {
			l.node(n, "%s: %v", what, err)
		}
	}
	return t
}

func (l *loader) listItem(ps Param, it *yaml.Node, sc *scope, what string) (paramItem, bool) {
	if ps.Kind == KindTargets && it.Kind == yaml.MappingNode {
		var t Target
		l.Mapping(it, "a target", []string{"site", "mode"}, func(key string, k, v *yaml.Node) {
			s, _ := l.scalar(v, key)
			if key == "site" {
				t.Site = s
			} else {
				t.Mode = s
			}
		})
		parsed, err := l.sh.sites.parseTarget(t.Site + " - " + t.Mode)
		if err != nil {
			l.node(it, "%s: %v", what, err)
			return paramItem{}, false
		}
		return paramItem{literal: parsed}, true
	}
	if it.Kind != yaml.ScalarNode {
		l.node(it, "%s wants %s; this item is a %s", what, kindWord(ps.Kind), nodeKind(it))
		return paramItem{}, false
	}
	if hasTemplate(it.Value) {
		tpl := l.template(it, sc, ps.Kind, what)
		return paramItem{tpl: tpl}, tpl != nil
	}
	if ps.Kind == KindTargets {
		t, err := l.sh.sites.parseTarget(it.Value)
		if err != nil {
			l.node(it, "%s: %v", what, err)
			return paramItem{}, false
		}
		return paramItem{literal: t}, true
	}
	return paramItem{literal: it.Value}, true
}

// template compiles a string with {{ }} interpolations; a template that is
// exactly one expression has its static type checked against the kind.
func (l *loader) template(n *yaml.Node, sc *scope, kind Kind, what string) *template {
	positions := l.src.scalar(n)
	spans, badAt, err := splitTemplate(n.Value)
	if err != nil {
		ps := positions[min(badAt, len(positions)-1)]
		l.at(ps.line, ps.col, "%s: %v", what, err)
		return nil
	}
	runes := []rune(n.Value)
	t := &template{raw: n.Value}
	t.whole = len(spans) == 1 && strings.TrimSpace(string(runes[:spans[0].open])) == "" &&
		strings.TrimSpace(string(runes[spans[0].end+2:])) == ""
	last, failed := 0, false
	for _, sp := range spans {
		if sp.open > last {
			t.parts = append(t.parts, tplPart{text: string(runes[last:sp.open])})
		}
		src := string(runes[sp.start:sp.end])
		prog, err := l.compile(sc, src, false)
		if err != nil {
			l.exprError(positions, sp.start, src, err, l.sh.names)
			failed = true
		} else if t.whole {
			if msg := kindAccepts(kind, programType(prog)); msg != "" {
				lead := len([]rune(src)) - len([]rune(strings.TrimLeft(src, " \t\n")))
				ps := positions[sp.start+lead]
				l.at(ps.line, ps.col, "%s %s, but %s gives %s", what, msg, strings.TrimSpace(src), typeName(programType(prog)))
				failed = true
			}
		}
		t.parts = append(t.parts, tplPart{src: src, prog: prog, typ: programType(prog)})
		last = sp.end + 2
	}
	if last < len(runes) {
		t.parts = append(t.parts, tplPart{text: string(runes[last:])})
	}
	if t.whole {
		// Keep only the expression: the white space around it is layout.
		for _, p := range t.parts {
			if p.prog != nil || p.src != "" {
				t.parts = []tplPart{p}
				break
			}
		}
	}
	if failed {
		return nil
	}
	return t
}
