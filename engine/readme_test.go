package engine

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestReadmeDocumentsEveryFact keeps the policy language reference (docs/policy-language.md)
// complete: every fact (by its expr name) and every helper has a row.
func TestReadmeDocumentsEveryFact(t *testing.T) {
	b, err := os.ReadFile("../docs/policy-language.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	var names []string
	var walk func(prefix string, typ reflect.Type)
	walk = func(prefix string, typ reflect.Type) {
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			name := prefix + f.Tag.Get("expr")
			if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeOf(time.Time{}) {
				walk(name+".", f.Type)
				continue
			}
			names = append(names, name)
		}
	}
	walk("", reflect.TypeOf(Facts{}))
	if len(names) < 25 {
		t.Fatalf("found only %d facts: %v", len(names), names)
	}
	for _, n := range names {
		if n == "config" {
			n = "config.<key>"
		}
		if !strings.Contains(readme, "| `"+n+"` |") {
			t.Errorf("docs/policy-language.md has no row for the fact %s", n)
		}
	}
	for _, h := range Helpers {
		if !strings.Contains(readme, "| `"+h.Usage+"` |") {
			t.Errorf("docs/policy-language.md has no row for the helper %s", h.Usage)
		}
	}
}
