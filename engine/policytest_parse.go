package engine

import (
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/qs-promoter/qs-promoter/yamlread"
)

// testLoader parses one test file strictly, reporting positioned problems.
type testLoader struct {
	loader
	dir      string
	policies []string
	steps    []string // "<policy>/<step id>"
}

func parseTestFile(name string, data []byte, opts LoadOptions, rs *Ruleset) ([]testCase, error) {
	tl := &testLoader{loader: loader{problems: problems{yamlread.Problems{File: name}}, src: newSource(data), opts: opts, rs: rs}, dir: filepath.Dir(name)}
	for _, p := range rs.Policies {
		tl.policies = append(tl.policies, p.Name)
		for _, s := range p.Steps {
			tl.steps = append(tl.steps, p.Name+"/"+s.ID)
		}
	}
	root, err := yamlread.Parse(name, data)
	if err != nil {
		return nil, err
	}
	if root == nil || yamlread.IsNull(root) {
		return nil, nil
	}
	if root.Kind != yaml.MappingNode {
		tl.node(root, "a policy test file is a mapping with cases: (and optionally config:)")
		return nil, tl.Err()
	}
	var cases []testCase
	fileConfig := map[string]any{}
	var casesNode *yaml.Node
	tl.Mapping(root, "a policy test file", []string{"config", "cases"}, func(key string, k, v *yaml.Node) {
		if key == "config" {
			tl.config(v, fileConfig)
		} else {
			casesNode = v
		}
	})
	if casesNode == nil || casesNode.Kind != yaml.SequenceNode {
		tl.node(root, "a policy test file needs cases: (a list of cases)")
		return nil, tl.Err()
	}
	for _, cn := range casesNode.Content {
		if c, ok := tl.testCase(cn, fileConfig); ok {
			cases = append(cases, c)
		}
	}
	if err := tl.Err(); err != nil {
		return nil, err
	}
	return cases, nil
}

// config decodes config.<key> values for the cases into the types of the
// rule set's keys (the declared defaults and the built-in keys).
func (tl *testLoader) config(n *yaml.Node, into map[string]any) {
	if n.Kind != yaml.MappingNode {
		tl.node(n, "config: wants a mapping of configuration keys to values")
		return
	}
	known := tl.rs.shape.configKeys
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		example, ok := tl.rs.shape.values[k.Value]
		if !ok {
			tl.node(k, "%s", yamlread.UnknownKey(k.Value, "config", known))
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
			tl.node(v, "config.%s: want %s, not %s", k.Value, typeWord(example), yamlText(v.Value))
			continue
		}
		into[k.Value] = ptr.Elem().Interface()
	}
}

var caseKeys = []string{"name", "event", "app", "config", "expect"}

func (tl *testLoader) testCase(n *yaml.Node, fileConfig map[string]any) (testCase, bool) {
	c := testCase{file: tl.File, line: n.Line}
	if n.Kind != yaml.MappingNode {
		tl.node(n, "a test case is a mapping (name:, event:, app:, expect:)")
		return c, false
	}
	before := len(tl.Errs)
	cfg := map[string]any{}
	for k, v := range fileConfig {
		cfg[k] = v
	}
	var eventNode, appNode, expectNode *yaml.Node
	tl.Mapping(n, "a test case", caseKeys, func(key string, k, v *yaml.Node) {
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
	return c, len(tl.Errs) == before
}

// defaultTestFacts is the fact set of a case without a recorded event: an
// unpublished app with no properties, updated on the first site.
func defaultTestFacts(sites []string) *Facts {
	site := "dev"
	return &Facts{
		Event: EventFacts{Kind: KindUpdated, Kinds: []string{KindUpdated}, Site: site, Changed: []string{}, ReceivedAt: time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)},
		App: AppFacts{ID: "00000000-0000-0000-0000-00000000a001", Name: "Test app", Properties: map[string][]string{}, Tags: []string{},
			SetBy: map[string][]string{}, Setters: []UserFacts{},
			Stream: StreamFacts{Properties: map[string][]string{}, Approvers: []string{}},
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
	tl.Mapping(n, "expect", expectKeys, func(key string, k, v *yaml.Node) {
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
	tl.Mapping(n, "a step expectation", []string{"step", "params", "params_contain"}, func(key string, k, v *yaml.Node) {
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
