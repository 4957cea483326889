package engine

import "testing"

// Errors inside expressions point at the exact rune of the file, whatever
// the YAML quoting: escapes in double-quoted strings take several source
// characters for one value character.
func TestExpressionPositionsThroughEscapes(t *testing.T) {
	tests := []struct{ when, want string }{
		{`"app.published and\tapp.nme"`, "p.yaml:4:35: "},
		{`"app.published\nand app.nme"`, "p.yaml:4:35: "},
		{`"\x41 == app.nme"`, "p.yaml:4:12: "},                    // the unknown name "A" is the escape itself
		{`"app.name == \"\u00e9\" and app.nme"`, "p.yaml:4:43: "}, // é written as \u00e9, quotes as \"
		{`'app.name == ''x'' and app.nme'`, "p.yaml:4:38: "},
	}
	for _, tt := range tests {
		src := "policies:\n  - name: p\n    on: updated\n    when: " + tt.when + "\n    steps: [{action: log, with: {message: x}}]\n"
		_, err := LoadFiles(map[string][]byte{"p.yaml": []byte(src)}, testOpts)
		if err == nil || len(err.Error()) < len(tt.want) || err.Error()[:len(tt.want)] != tt.want {
			t.Errorf("when: %s\n got %v\nwant %s…", tt.when, err, tt.want)
		}
	}
}

// expr's parser and checker messages that puzzle an admin are reworded.
func TestFriendlyExpressionMessages(t *testing.T) {
	tests := []struct{ when, want string }{
		{`app.name = "x"`, `p.yaml:4:20: "=" assigns nothing here: compare with ==`},
		{`app.name`, `p.yaml:4:11: a condition must be true or false, and this gives a string: compare it (app.name == "x") or use is_true(...)`},
		{`app.published and`, `p.yaml:4:27: the expression ends too early: something is missing at its end`},
	}
	for _, tt := range tests {
		src := "policies:\n  - name: p\n    on: updated\n    when: " + tt.when + "\n    steps: [{action: log, with: {message: x}}]\n"
		_, err := LoadFiles(map[string][]byte{"p.yaml": []byte(src)}, testOpts)
		if err == nil || err.Error() != tt.want {
			t.Errorf("when: %s\n got %v\nwant %s", tt.when, err, tt.want)
		}
	}
}

// Policy-level mistakes say what was written and what is wanted.
func TestPolicyShapeMessages(t *testing.T) {
	tests := []struct{ rest, want string }{
		{"    steps: []\n", `p.yaml:4:12: steps: is empty; a policy needs at least one step ("- action: …")`},
		{"    steps: [{action: log, with: {message: x}}]\n    stop: yes\n", `p.yaml:5:11: stop: wants true or false, not "yes"`},
	}
	for _, tt := range tests {
		src := "policies:\n  - name: p\n    on: updated\n" + tt.rest
		_, err := LoadFiles(map[string][]byte{"p.yaml": []byte(src)}, testOpts)
		if err == nil || err.Error() != tt.want {
			t.Errorf("%s\n got %v\nwant %s", tt.rest, err, tt.want)
		}
	}
}

// A true/false or whole-number parameter written in quotes is what it says
// ("true", "3"), as the same text from a template would be; other text is
// an error that says what is wanted.
func TestQuotedBoolAndIntLiterals(t *testing.T) {
	rs := mustLoad(t, `
policies:
  - name: p
    on: [updated]
    steps:
      - {action: tag, with: {name: x, remove: "true"}}
      - {action: unpublish, with: {retries: "5"}}
`)
	p := rs.Policies[0].Steps
	if p[0].params[1].literal != true || p[1].params[0].literal != 5 {
		t.Errorf("literals %#v %#v", p[0].params[1].literal, p[1].params[0].literal)
	}
	_, err := LoadFiles(map[string][]byte{"p.yaml": []byte("policies:\n  - name: p\n    on: updated\n    steps: [{action: tag, with: {name: x, remove: 'yes'}}]\n")}, testOpts)
	if want := `p.yaml:4:51: parameter "remove" wants true or false, not "yes"`; err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
}
