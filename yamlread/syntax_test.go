package yamlread

import "testing"

// Every syntax mistake is reported at the line (and column) that holds it,
// in words that say what to fix.
func TestSyntaxErrorPositions(t *testing.T) {
	cases := []struct{ name, yaml, want string }{
		{"list item keys one space short", "policies:\n  - name: broken\n    when: app.published\n   actions: []\n",
			"f.yaml:4:4: YAML syntax: this line is indented by 3 spaces, which lines up with no line above it (4 on line 3, 2 on line 2, 0 on line 1): indent it as the keys it belongs with"},
		{"mapping key one space short", "a:\n  b: 1\n c: 2\n",
			"f.yaml:3:2: YAML syntax: this line is indented by 1 space, which lines up with no line above it (2 on line 2, 0 on line 1): indent it as the keys it belongs with"},
		{"nested step", "policies:\n  - name: x\n    steps:\n      - action: log\n     with: {}\n",
			"f.yaml:5:6: YAML syntax: this line is indented by 5 spaces, which lines up with no line above it (8 on line 4, 6 on line 4, 4 on line 3): indent it as the keys it belongs with"},
		{"comments and blank lines are skipped", "a:\n  b: 1\n\n  # note\n\n c: 2\n",
			"f.yaml:6:2: YAML syntax: this line is indented by 1 space, which lines up with no line above it (2 on line 2, 0 on line 1): indent it as the keys it belongs with"},
		{"key where a list item goes", "a:\n  - x\n  y: 1\n",
			`f.yaml:3:3: YAML syntax: expected a list item ("- …") here, in the list that starts on line 2`},
		{"unclosed flow list", "policies:\n  - name: broken\n    on: [updated\n    steps: []\n",
			"f.yaml:3:9: YAML syntax: this [ is never closed with ]"},
		{"unclosed flow mapping", "a: {b: 1\nc: 2\n", "f.yaml:1:4: YAML syntax: this { is never closed with }"},
		{"deeper line continues a value", "a:\n  b: 1\n   c: 2\n",
			"f.yaml:3:4: YAML syntax: mapping values are not allowed in this context (this line is indented deeper than line 2, so it reads as more of that line's value: indent it as the keys it belongs with)"},
		{"tab", "a:\n\tb: 1\n", "f.yaml:2:1: YAML syntax: a tab in the indentation; indent with spaces only"},
		{"quoted then text", "a:\n  when: \"x\" in app.tags\n",
			`f.yaml:2:13: YAML syntax: this value starts with a quote, so it must end with one: quote it whole ('"x" in app.tags'), or write it on the next lines after >`},
		{"second document", "a: 1\n---\nb: 2\n", "f.yaml:2:1: a second YAML document (after ---): a file holds one; remove the --- and merge what follows into the first"},
		{"CRLF line ends", "a:\r\n  b: 1\r\n c: 2\r\n",
			"f.yaml:3:2: YAML syntax: this line is indented by 1 space, which lines up with no line above it (2 on line 2, 0 on line 1): indent it as the keys it belongs with"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("f.yaml", []byte(c.yaml))
			if err == nil || err.Error() != c.want {
				t.Errorf("got  %v\nwant %s", err, c.want)
			}
		})
	}
}

func TestParseEmpty(t *testing.T) {
	for _, s := range []string{"", "# only a comment\n", "\n\n"} {
		if n, err := Parse("f.yaml", []byte(s)); n != nil || err != nil {
			t.Errorf("%q: %v %v", s, n, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("policies:\n  - name: broken\n    when: app.published\n   actions: []\n"))
	f.Add([]byte("a: {b: [1, 2\n"))
	f.Add([]byte("a:\n\t- b\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := Parse("f.yaml", data)
		if err == nil {
			return
		}
		e, ok := err.(*Error)
		if !ok || e.Line < 1 || e.File != "f.yaml" {
			t.Fatalf("not a positioned error: %#v", err)
		}
	})
}
