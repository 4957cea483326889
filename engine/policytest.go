package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Policy tests live beside the policies as *_test.yaml. Each case builds a
// fact set (from a recorded event and/or inline overrides), dry-runs the
// rule set with actions that only describe themselves, and compares which
// policies matched and which steps would run with which parameters.

type testCase struct {
	file, name string
	line       int
	facts      *Facts
	expect     testExpect
}

type testExpect struct {
	matched     []string // nil: not checked
	notMatched  []string
	steps       []stepExpect // nil: not checked
	stepsGiven  bool
	skipped     []string
	failed      []string
	matchedGiv  bool
	reasonMatch map[string]string // policy → substring of its reason
}

type stepExpect struct {
	key      string // policy/id
	line     int
	params   map[string]any
	contains map[string]string
}

// RunTests runs every *_test.yaml of dir against the policies of dir and
// writes one line per case in the manner of `go test`. acts nil: every
// action is mocked by one that plans without side effects. failed counts
// the failed cases; err is for what stops the run (policies that do not
// load, a test file that does not parse).
func RunTests(dir string, opts LoadOptions, acts map[string]Action, w io.Writer) (failed int, err error) {
	rs, err := Load(dir, opts)
	if err != nil {
		return 0, err
	}
	if acts == nil {
		acts = MockActions(opts.Specs)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	var files []string
	for _, e := range entries {
		if !e.IsDir() && isTestFile(e.Name()) {
			files = append(files, filepath.Join(dir, e.Name()))
		}
	}
	sort.Strings(files)
	var cases []testCase
	var errs []error
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return 0, err
		}
		cs, err := parseTestFile(f, data, opts, rs)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		cases = append(cases, cs...)
	}
	if len(errs) > 0 {
		return 0, errors.Join(errs...)
	}
	start := time.Now()
	for _, c := range cases {
		problems := runCase(rs, acts, c)
		if len(problems) == 0 {
			fmt.Fprintf(w, "ok    %s:%d: %s\n", c.file, c.line, c.name)
			continue
		}
		failed++
		fmt.Fprintf(w, "FAIL  %s:%d: %s\n", c.file, c.line, c.name)
		for _, p := range problems {
			fmt.Fprintf(w, "      %s\n", p)
		}
	}
	if failed > 0 {
		fmt.Fprintf(w, "FAIL  %s: %d of %d cases failed (%d files, revision %s, %.3fs)\n", dir, failed, len(cases), len(files), rs.Revision, time.Since(start).Seconds())
	} else {
		fmt.Fprintf(w, "ok    %s: %d cases passed (%d files, revision %s, %.3fs)\n", dir, len(cases), len(files), rs.Revision, time.Since(start).Seconds())
	}
	return failed, nil
}

func runCase(rs *Ruleset, acts map[string]Action, c testCase) []string {
	rep, err := rs.Execute(context.Background(), c.facts, acts, ExecOptions{ExecutionID: "test", DryRun: true})
	if err != nil {
		return []string{err.Error()}
	}
	var out []string
	var matched []string
	reasons := map[string]string{}
	for _, p := range rep.Policies {
		reasons[p.Name] = p.Reason
		if p.Matched {
			matched = append(matched, p.Name)
		}
		if p.Err != "" {
			out = append(out, fmt.Sprintf("policy %s failed: %s", p.Name, p.Err))
		}
	}
	e := c.expect
	if e.matchedGiv && strings.Join(matched, ", ") != strings.Join(e.matched, ", ") {
		out = append(out, fmt.Sprintf("matched: got [%s], want [%s]", strings.Join(matched, ", "), strings.Join(e.matched, ", ")))
		for _, name := range e.matched {
			if !slices.Contains(matched, name) {
				out = append(out, fmt.Sprintf("  %s did not match: %s", name, reasons[name]))
			}
		}
	}
	for _, name := range e.notMatched {
		if slices.Contains(matched, name) {
			out = append(out, fmt.Sprintf("%s matched (%s), want no match", name, reasons[name]))
		}
	}
	for name, sub := range e.reasonMatch {
		if r, ok := reasons[name]; !ok || !strings.Contains(r, sub) {
			out = append(out, fmt.Sprintf("%s: reason %q does not contain %q", name, r, sub))
		}
	}
	var planned, skipped, failed []string
	byKey := map[string]StepReport{}
	for _, p := range rep.Policies {
		for _, s := range p.Steps {
			key := p.Name + "/" + s.ID
			byKey[key] = s
			switch {
			case s.Skipped:
				skipped = append(skipped, key)
			case s.Err != "" && !s.NotRun:
				failed = append(failed, key)
				if !slices.Contains(e.failed, key) {
					out = append(out, fmt.Sprintf("step %s failed: %s", key, s.Err))
				}
			case !s.NotRun:
				planned = append(planned, key)
			}
		}
	}
	if e.stepsGiven {
		var want []string
		for _, s := range e.steps {
			want = append(want, s.key)
		}
		if strings.Join(planned, ", ") != strings.Join(want, ", ") {
			out = append(out, fmt.Sprintf("steps: got [%s], want [%s]", strings.Join(planned, ", "), strings.Join(want, ", ")))
		}
	}
	for _, s := range e.steps {
		got, ok := byKey[s.key]
		if !ok {
			continue
		}
		names := make([]string, 0, len(s.params))
		for n := range s.params {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			g, w := formatValue(got.Params[n]), formatValue(s.params[n])
			if g != w {
				out = append(out, fmt.Sprintf("step %s (line %d): %s = %q, want %q", s.key, s.line, n, g, w))
			}
		}
		names = names[:0]
		for n := range s.contains {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			if g := formatValue(got.Params[n]); !strings.Contains(g, s.contains[n]) {
				out = append(out, fmt.Sprintf("step %s (line %d): %s = %q, want it to contain %q", s.key, s.line, n, g, s.contains[n]))
			}
		}
	}
	if e.skipped != nil && strings.Join(skipped, ", ") != strings.Join(e.skipped, ", ") {
		out = append(out, fmt.Sprintf("skipped: got [%s], want [%s]", strings.Join(skipped, ", "), strings.Join(e.skipped, ", ")))
	}
	for _, k := range e.failed {
		if !slices.Contains(failed, k) {
			out = append(out, fmt.Sprintf("step %s did not fail", k))
		}
	}
	return out
}

// MockActions returns actions for the specs whose Plan and Run only
// describe the call: policy tests check decisions, not side effects.
func MockActions(specs map[string]ActionSpec) map[string]Action {
	out := make(map[string]Action, len(specs))
	for n, s := range specs {
		out[n] = mockAction{s}
	}
	return out
}

type mockAction struct{ spec ActionSpec }

func (m mockAction) Spec() ActionSpec { return m.spec }
func (m mockAction) Plan(ctx context.Context, in *StepInput) (Result, error) {
	return Result{Status: StatusPlanned, Summary: "would run " + m.spec.Name}, nil
}
func (m mockAction) Run(ctx context.Context, in *StepInput) (Result, error) {
	return Result{Status: StatusDone, Summary: "ran " + m.spec.Name}, nil
}

// testLoader parses one test file strictly, reporting positioned problems.
type testLoader struct {
	loader
	dir      string
	policies []string
	steps    []string // "<policy>/<step id>"
}

func parseTestFile(name string, data []byte, opts LoadOptions, rs *Ruleset) ([]testCase, error) {
	tl := &testLoader{loader: loader{problems: problems{file: name}, src: newSource(data), opts: opts}, dir: filepath.Dir(name)}
	for _, p := range rs.Policies {
		tl.policies = append(tl.policies, p.Name)
		for _, s := range p.Steps {
			tl.steps = append(tl.steps, p.Name+"/"+s.ID)
		}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, YAMLSyntaxError(name, data, err)
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		tl.node(root, "a policy test file is a mapping with cases: (and optionally config:)")
		return nil, errors.Join(tl.errs...)
	}
	var cases []testCase
	fileConfig := map[string]any{}
	for k, v := range opts.Config {
		fileConfig[k] = v
	}
	var casesNode *yaml.Node
	tl.mapping(root, "a policy test file", []string{"config", "cases"}, func(key string, k, v *yaml.Node) {
		if key == "config" {
			tl.config(v, fileConfig)
		} else {
			casesNode = v
		}
	})
	if casesNode == nil || casesNode.Kind != yaml.SequenceNode {
		tl.node(root, "a policy test file needs cases: (a list of cases)")
		return nil, errors.Join(tl.errs...)
	}
	for _, cn := range casesNode.Content {
		if c, ok := tl.testCase(cn, fileConfig); ok {
			cases = append(cases, c)
		}
	}
	if len(tl.errs) > 0 {
		return nil, errors.Join(tl.errs...)
	}
	return cases, nil
}

// config decodes config overrides into the example values' types.
func (tl *testLoader) config(n *yaml.Node, into map[string]any) {
	if n.Kind != yaml.MappingNode {
		tl.node(n, "config: wants a mapping of configuration keys to values")
		return
	}
	known := make([]string, 0, len(tl.opts.Config))
	for k := range tl.opts.Config {
		known = append(known, k)
	}
	sort.Strings(known)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		example, ok := tl.opts.Config[k.Value]
		if !ok && tl.opts.Config == nil {
			var x any // no configuration to type it by
			_ = v.Decode(&x)
			into[k.Value] = x
			continue
		}
		if !ok {
			tl.node(k, "unknown configuration key %q%s (known: %s)", k.Value, suggest(k.Value, known), listOr(known, "none"))
			continue
		}
		if example == nil {
			var x any
			_ = v.Decode(&x)
			into[k.Value] = x
			continue
		}
		ptr := reflect.New(reflect.TypeOf(example))
		if err := v.Decode(ptr.Interface()); err != nil {
			tl.node(v, "config %s: %v", k.Value, err)
			continue
		}
		into[k.Value] = ptr.Elem().Interface()
	}
}

var caseKeys = []string{"name", "event", "app", "config", "expect"}

func (tl *testLoader) testCase(n *yaml.Node, fileConfig map[string]any) (testCase, bool) {
	c := testCase{file: tl.file, line: n.Line}
	if n.Kind != yaml.MappingNode {
		tl.node(n, "a test case is a mapping (name:, event:, app:, expect:)")
		return c, false
	}
	before := len(tl.errs)
	cfg := map[string]any{}
	for k, v := range fileConfig {
		cfg[k] = v
	}
	var eventNode, appNode, expectNode *yaml.Node
	tl.mapping(n, "a test case", caseKeys, func(key string, k, v *yaml.Node) {
		switch key {
		case "name":
			c.name, _ = tl.scalar(v, "name")
		case "event":
			eventNode = v
		case "app":
			appNode = v
		case "config":
			tl.config(v, cfg)
		case "expect":
			expectNode = v
		}
	})
	if c.name == "" {
		c.name = fmt.Sprintf("case at line %d", n.Line)
	}
	f := defaultTestFacts(tl.opts.Sites)
	if eventNode != nil && eventNode.Kind == yaml.ScalarNode {
		path := eventNode.Value
		if !filepath.IsAbs(path) {
			path = filepath.Join(tl.dir, path)
		}
		ev, err := ReadEventFile(path)
		if err != nil {
			tl.node(eventNode, "%v", err)
			return c, false
		}
		if f, err = NewFacts(ev, nil); err != nil {
			tl.node(eventNode, "%v", err)
			return c, false
		}
	} else if eventNode != nil {
		tl.eventOverrides(eventNode, &f.Event)
	}
	f.Config = cfg
	if appNode != nil {
		tl.setFields(appNode, reflect.ValueOf(&f.App).Elem(), "app")
	}
	c.facts = f
	if expectNode == nil {
		tl.node(n, "the case has no expect:")
	} else {
		c.expect = tl.expect(expectNode)
	}
	return c, len(tl.errs) == before
}

// defaultTestFacts is the fact set of a case without a recorded event: an
// unpublished app with no properties, updated on the first site.
func defaultTestFacts(sites []string) *Facts {
	site := "dev"
	return &Facts{
		Event: EventFacts{Kind: KindUpdated, Kinds: []string{KindUpdated}, Site: site, Changed: []string{}, ReceivedAt: time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)},
		App: AppFacts{ID: "00000000-0000-0000-0000-00000000a001", Name: "Test app", Properties: map[string][]string{}, Tags: []string{},
			Stream: StreamFacts{Properties: map[string][]string{}},
			Owner:  OwnerFacts{ID: "00000000-0000-0000-0000-00000000u001", UserID: "owner", Directory: "CORP", Name: "App Owner", Email: "owner@example.com", Account: `CORP\owner`}},
	}
}

func (tl *testLoader) eventOverrides(n *yaml.Node, e *EventFacts) {
	if n.Kind != yaml.MappingNode {
		tl.node(n, "event: wants a recorded event file or a mapping of event facts (kind, changed, site, …)")
		return
	}
	tl.setFields(n, reflect.ValueOf(e).Elem(), "event")
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "kind" && !hasKey(n, "kinds") {
			e.Kinds = []string{e.Kind}
			if e.Kind == KindPublished || e.Kind == KindReloaded {
				e.Kinds = append(e.Kinds, KindUpdated) // as derived from a real notification
			}
		}
	}
	for _, k := range append([]string{e.Kind}, e.Kinds...) {
		if k != "" && !slices.Contains(EventKinds, k) {
			tl.node(n, "unknown event kind %q%s (known: %s)", k, suggest(k, EventKinds), strings.Join(EventKinds, ", "))
			break
		}
	}
}

func hasKey(n *yaml.Node, key string) bool {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return true
		}
	}
	return false
}

// setFields applies a YAML mapping onto a facts struct by expr names.
func (tl *testLoader) setFields(n *yaml.Node, v reflect.Value, what string) {
	if n.Kind != yaml.MappingNode {
		tl.node(n, "%s: wants a mapping of fact names to values", what)
		return
	}
	t := v.Type()
	var names []string
	index := map[string]int{}
	for i := 0; i < t.NumField(); i++ {
		if tag := t.Field(i).Tag.Get("expr"); tag != "" && tag != "-" {
			names = append(names, tag)
			index[tag] = i
		}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		fi, ok := index[k.Value]
		if !ok {
			tl.node(k, "%s has no %q%s (it has: %s)", what, k.Value, suggest(k.Value, names), strings.Join(names, ", "))
			continue
		}
		field := v.Field(fi)
		switch field.Interface().(type) {
		case time.Time:
			var s string
			tm, err := time.Parse(time.RFC3339Nano, val.Value)
			if val.Decode(&s) != nil || err != nil {
				tl.node(val, "%s.%s wants an RFC 3339 time like 2026-11-27T09:30:05Z", what, k.Value)
				continue
			}
			field.Set(reflect.ValueOf(tm))
		case StreamFacts, OwnerFacts:
			tl.setFields(val, field, what+"."+k.Value)
		case map[string][]string:
			m := map[string][]string{}
			if val.Kind != yaml.MappingNode {
				tl.node(val, "%s.%s wants a mapping of property names to values", what, k.Value)
				continue
			}
			for j := 0; j+1 < len(val.Content); j += 2 {
				pk, pv := val.Content[j], val.Content[j+1]
				var list []string
				if pv.Kind == yaml.ScalarNode {
					list = []string{pv.Value}
				} else if err := pv.Decode(&list); err != nil {
					tl.node(pv, "%s.%s.%s wants a value or a list of values", what, k.Value, pk.Value)
					continue
				}
				m[pk.Value] = list
			}
			field.Set(reflect.ValueOf(m))
		case []string:
			var list []string
			if val.Kind == yaml.ScalarNode {
				list = []string{val.Value}
			} else if err := val.Decode(&list); err != nil {
				tl.node(val, "%s.%s wants a list of strings", what, k.Value)
				continue
			}
			field.Set(reflect.ValueOf(list))
		default:
			ptr := reflect.New(field.Type())
			if err := val.Decode(ptr.Interface()); err != nil {
				tl.node(val, "%s.%s wants %s, not %q", what, k.Value, jsonKind(field.Type()), val.Value)
				continue
			}
			field.Set(ptr.Elem())
		}
	}
}

var expectKeys = []string{"matched", "not_matched", "reasons", "steps", "skipped", "failed"}

func (tl *testLoader) expect(n *yaml.Node) testExpect {
	var e testExpect
	if n.Kind != yaml.MappingNode {
		tl.node(n, "expect: wants a mapping (matched:, steps:, …)")
		return e
	}
	list := func(v *yaml.Node, what string) []string {
		out := []string{}
		if v.Kind == yaml.ScalarNode && v.Tag != "!!null" {
			return []string{v.Value}
		}
		if v.Kind == yaml.SequenceNode {
			if err := v.Decode(&out); err != nil {
				tl.node(v, "%s wants a list of names", what)
			}
			return out
		}
		if v.Kind != yaml.ScalarNode {
			tl.node(v, "%s wants a list of names", what)
		}
		return out
	}
	tl.mapping(n, "expect", expectKeys, func(key string, k, v *yaml.Node) {
		switch key {
		case "matched":
			e.matched, e.matchedGiv = list(v, key), true
			tl.checkPolicies(v, e.matched)
		case "not_matched":
			e.notMatched = list(v, key)
			tl.checkPolicies(v, e.notMatched)
		case "reasons":
			e.reasonMatch = map[string]string{}
			if err := v.Decode(&e.reasonMatch); err != nil {
				tl.node(v, "reasons: wants a mapping of policy names to text the reason contains")
			}
		case "skipped":
			e.skipped = list(v, key)
			tl.checkSteps(v)
		case "failed":
			e.failed = list(v, key)
			tl.checkSteps(v)
		case "steps":
			e.stepsGiven = true
			if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
				return
			}
			if v.Kind != yaml.SequenceNode {
				tl.node(v, "steps: wants a list of steps (- step: <policy>/<step id>)")
				return
			}
			for _, sn := range v.Content {
				e.steps = append(e.steps, tl.stepExpect(sn))
			}
		}
	})
	return e
}

// checkPolicies reports policy names that the rule set does not have.
func (tl *testLoader) checkPolicies(n *yaml.Node, names []string) {
	for _, name := range names {
		if !slices.Contains(tl.policies, name) {
			tl.node(n, "no policy is named %q%s", name, suggest(name, tl.policies))
		}
	}
}

// checkSteps reports "<policy>/<step id>" names that the rule set does not have.
func (tl *testLoader) checkSteps(n *yaml.Node) {
	items := n.Content
	if n.Kind == yaml.ScalarNode {
		items = []*yaml.Node{n}
	}
	for _, it := range items {
		if it.Kind == yaml.ScalarNode && it.Tag != "!!null" && !slices.Contains(tl.steps, it.Value) {
			tl.node(it, "no step is named %q%s", it.Value, suggest(it.Value, tl.steps))
		}
	}
}

func (tl *testLoader) stepExpect(n *yaml.Node) stepExpect {
	s := stepExpect{line: n.Line}
	if n.Kind == yaml.ScalarNode {
		s.key = n.Value
		tl.checkSteps(n)
		return s
	}
	if n.Kind != yaml.MappingNode {
		tl.node(n, "a step expectation is \"<policy>/<step id>\" or a mapping with step:, params:, params_contain:")
		return s
	}
	tl.mapping(n, "a step expectation", []string{"step", "params", "params_contain"}, func(key string, k, v *yaml.Node) {
		switch key {
		case "step":
			s.key, _ = tl.scalar(v, "step")
		case "params":
			if err := v.Decode(&s.params); err != nil {
				tl.node(v, "params: wants a mapping of parameter names to values")
			}
		case "params_contain":
			if err := v.Decode(&s.contains); err != nil {
				tl.node(v, "params_contain: wants a mapping of parameter names to text")
			}
		}
	})
	if !strings.Contains(s.key, "/") {
		tl.node(n, "step: wants \"<policy>/<step id>\", got %q", s.key)
	} else if !slices.Contains(tl.steps, s.key) {
		tl.node(n, "no step is named %q%s", s.key, suggest(s.key, tl.steps))
	}
	return s
}
