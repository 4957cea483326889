package engine

import (
	"context"
	"strings"
	"testing"

	"github.com/qs-promoter/qs-promoter/yamlread"
)

// setting is a vars: entry of a configuration c.yaml, its key at line:3 and
// its value at line:col.
func setting(key string, value any, line, col int) Setting {
	return Setting{Key: key, Value: value,
		KeyAt:   yamlread.Pos{File: "c.yaml", Line: line, Col: 3},
		ValueAt: yamlread.Pos{File: "c.yaml", Line: line, Col: col}}
}

// configOpts have one built-in key, hub.
var configOpts = LoadOptions{Specs: testSpecs, Sites: []string{"test", "prod"}, Builtin: map[string]any{"hub": ""}}

const declaringPolicy = `config:
  auto_unpublish: true
  unpublish_property: PromotionUnpublish
  retries: 3
  ratio: 0.5
  streams: [Everyone]
policies:
  - name: p
    on: [updated]
    when: config.auto_unpublish or is_true(props(app.properties, config.unpublish_property))
    steps: [{action: log, with: {message: "{{ config.retries }} {{ config.ratio }} {{ join(config.streams, '+') }} {{ config.hub }}"}}]
`

// A policy file declares the config.<key> it reads with their defaults;
// vars: overrides them, typed by the default; the rule set gives what
// policies read when the facts do not set a key.
func TestConfigDeclarationsAndVars(t *testing.T) {
	opts := configOpts
	opts.Vars = []Setting{setting("auto_unpublish", false, 2, 19), setting("ratio", 2, 3, 10), setting("streams", []any{"A", "B"}, 4, 12)}
	rs, err := LoadFiles(map[string][]byte{"p.yaml": []byte(declaringPolicy)}, opts)
	if err != nil {
		t.Fatal(err)
	}
	cfg := rs.Config()
	if cfg["auto_unpublish"] != false || cfg["retries"] != 3 || cfg["ratio"] != 2.0 || cfg["unpublish_property"] != "PromotionUnpublish" || cfg["hub"] != "" {
		t.Errorf("config %#v", cfg)
	}
	f := approvedFacts()
	f.Config = nil // the rule set's values apply
	f.App.Properties = map[string][]string{"PromotionUnpublish": {"True"}}
	rep, err := rs.Execute(context.Background(), f, asActions(fakeActions()), ExecOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if p := rep.Policies[0]; !p.Matched || p.Steps[0].Params.String("message") != "3 2 A+B " {
		t.Errorf("%+v %q", p, p.Steps[0].Params.String("message"))
	}
}

// Every way a configuration key can be wrong fails the load at its position.
func TestConfigKeyMistakes(t *testing.T) {
	other := "config:\n  auto_unpublish: false\npolicies: []\n"
	cases := []struct {
		name  string
		files map[string]string
		vars  []Setting
		want  string
	}{
		{"misspelt var", map[string]string{"p.yaml": declaringPolicy}, []Setting{setting("auto_unpublsh", false, 2, 18)},
			`c.yaml:2:3: unknown key "auto_unpublsh" in vars; did you mean "auto_unpublish"? (known: auto_unpublish, ratio, retries, streams, unpublish_property): vars sets only keys that a policy file declares under config:`},
		{"var of a built-in key", map[string]string{"p.yaml": declaringPolicy}, []Setting{setting("hub", "x", 2, 8)},
			`c.yaml:2:3: vars: "hub" is set by the daemon itself`},
		{"var of the wrong type", map[string]string{"p.yaml": declaringPolicy}, []Setting{setting("auto_unpublish", "no", 2, 19)},
			`c.yaml:2:19: vars.auto_unpublish: want true or false (default true, declared at p.yaml:2:19), got "no"`},
		{"var list of numbers", map[string]string{"p.yaml": declaringPolicy}, []Setting{setting("streams", []any{1}, 2, 12)},
			`c.yaml:2:12: vars.streams: want a list of texts (default [Everyone], declared at p.yaml:6:12), got [1]`},
		{"undeclared read", map[string]string{"p.yaml": "policies:\n  - name: p\n    on: updated\n    when: config.publish_alerts\n    steps: [{action: log, with: {message: x}}]\n"}, nil,
			`p.yaml:4:18: config has no "publish_alerts" (it has: hub); a new key is declared under config: at the top of the file, with its default`},
		{"misspelt read", map[string]string{"p.yaml": strings.Replace(declaringPolicy, "config.auto_unpublish or", "config.auto_unpublsh or", 1)}, nil,
			`p.yaml:10:18: config has no "auto_unpublsh"; did you mean "auto_unpublish"? (it has: auto_unpublish, hub, ratio, retries, streams, unpublish_property); a new key is declared under config: at the top of the file, with its default`},
		{"read of a key another file declares", map[string]string{"a.yaml": "config:\n  retries: 3\npolicies: []\n",
			"b.yaml": "policies:\n  - name: p\n    on: updated\n    steps: [{action: log, with: {message: \"{{ config.retries }}\"}}]\n"}, nil,
			`b.yaml:4:54: config.retries is not declared in this file: add "retries: 3" under config: at the top of the file (as a.yaml:2 declares it)`},
		{"two defaults", map[string]string{"a.yaml": declaringPolicy, "b.yaml": other}, nil,
			`b.yaml:2:19: config.auto_unpublish: default false here, but true at a.yaml:2:19: every file that declares a key gives it the same default`},
		{"declared built-in", map[string]string{"p.yaml": "config:\n  hub: x\npolicies: []\n"}, nil,
			`p.yaml:2:3: config.hub is set by the daemon itself: read it without declaring it`},
		{"no default", map[string]string{"p.yaml": "config:\n  retries:\npolicies: []\n"}, nil,
			`p.yaml:2:11: config.retries: give it a default (a default is true or false, a number, text, a list of texts or a mapping)`},
		{"list of mappings", map[string]string{"p.yaml": "config:\n  m: [{a: 1}]\npolicies: []\n"}, nil,
			`p.yaml:2:6: config.m: a default is true or false, a number, text, a list of texts or a mapping; this list holds a mapping`},
		{"mapping var for a text", map[string]string{"p.yaml": declaringPolicy}, []Setting{setting("unpublish_property", map[string]any{"a": 1}, 2, 23)},
			`c.yaml:2:23: vars.unpublish_property: want text (default "PromotionUnpublish", declared at p.yaml:3:23), got {"a":1}`},
		{"bad key name", map[string]string{"p.yaml": "config:\n  my-key: 1\npolicies: []\n"}, nil,
			`p.yaml:2:3: config key "my-key": use letters, digits and _ (policies read it as config.my-key)`},
		{"config read as a whole", map[string]string{"p.yaml": "policies:\n  - name: p\n    on: updated\n    steps: [{action: log, with: {message: \"{{ config }}\"}}]\n"}, nil,
			`p.yaml:4:47: read each configuration value by its name (config.<key>), so that it can be checked`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			files := map[string][]byte{}
			for n, text := range c.files {
				files[n] = []byte(text)
			}
			opts := configOpts
			opts.Vars = c.vars
			_, err := LoadFiles(files, opts)
			if err == nil || err.Error() != c.want {
				t.Errorf("got  %v\nwant %s", err, c.want)
			}
		})
	}
}

// A missing ) is reported at the bracket left open, naming where the
// expression ends; a ) too many at itself.
func TestUnclosedBracket(t *testing.T) {
	tests := []struct{ when, want string }{
		{`len(app.tags > 0`, `p.yaml:4:14: this "(" is never closed: the expression ends at 4:26 without its ")"`},
		{`has_tag(app.tags, "(x") and (app.published`, `p.yaml:4:39: this "(" is never closed: the expression ends at 4:52 without its ")"`},
		{`len(app.tags) > 0 and app.name in ["a", "b"`, `p.yaml:4:45: this "[" is never closed: the expression ends at 4:53 without its "]"`},
		{`len(app.tags) > 0)`, `p.yaml:4:28: this ")" closes nothing: no "(" before it is open`},
	}
	for _, tt := range tests {
		src := "policies:\n  - name: p\n    on: updated\n    when: " + tt.when + "\n    steps: [{action: log, with: {message: x}}]\n"
		_, err := LoadFiles(map[string][]byte{"p.yaml": []byte(src)}, testOpts)
		if err == nil || err.Error() != tt.want {
			t.Errorf("when: %s\n got %v\nwant %s", tt.when, err, tt.want)
		}
	}
}

// An indentation slip is reported on the line that holds it.
func TestIndentationSlipPosition(t *testing.T) {
	src := "policies:\n  - name: broken\n    when: app.published\n   actions: []\n"
	_, err := LoadFiles(map[string][]byte{"broken.yaml": []byte(src)}, testOpts)
	want := "broken.yaml:4:4: YAML syntax: this line is indented by 3 spaces, which lines up with no line above it (4 on line 3, 2 on line 2, 0 on line 1): indent it as the keys it belongs with"
	if err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
}
