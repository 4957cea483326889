package actions

import (
	"os"
	"strings"
	"testing"
)

// TestDocsCoverEveryParameter keeps docs/actions.md in step with the specs.
func TestDocsCoverEveryParameter(t *testing.T) {
	b, err := os.ReadFile("../docs/actions.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, name := range Names() {
		spec := Specs()[name]
		i := strings.Index(doc, "\n## "+name+"\n")
		if i < 0 {
			t.Errorf("docs/actions.md has no section for %s", name)
			continue
		}
		section := doc[i+1:]
		if j := strings.Index(section[3:], "\n## "); j >= 0 {
			section = section[:j+3]
		}
		for _, p := range spec.Params {
			if !strings.Contains(section, "| `"+p.Name+"` |") {
				t.Errorf("docs/actions.md: %s: parameter %s is not documented", name, p.Name)
			}
		}
	}
}
