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
