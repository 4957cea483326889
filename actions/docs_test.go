package actions

import (
	"os"
	"strings"
	"testing"
)

// TestDocsCoverEveryParameter keeps the README's actions reference in step
// with the specs: a section per action, a row per parameter.
func TestDocsCoverEveryParameter(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, name := range Names() {
		spec := Specs()[name]
		i := strings.Index(doc, "\n### "+name+"\n")
		if i < 0 {
			t.Errorf("README.md has no section for %s", name)
			continue
		}
		section := doc[i+1:]
		if j := strings.Index(section[4:], "\n##"); j >= 0 {
			section = section[:j+4]
		}
		for _, p := range spec.Params {
			if !strings.Contains(section, "| `"+p.Name+"` |") {
				t.Errorf("README.md: %s: parameter %s is not documented", name, p.Name)
			}
		}
	}
}
