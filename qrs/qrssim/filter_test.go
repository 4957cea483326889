package qrssim

import (
	"reflect"
	"strings"
	"testing"
)

// quote escapes a value the way a safe client must: \ → \\, ' → \'.
func quote(v string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}

// FuzzFilter checks that the parser never panics and that an escaped value
// is always one literal, whatever it holds: data cannot change a filter.
func FuzzFilter(f *testing.F) {
	for _, s := range []string{"x' or name sw '", `O'Brien \ Sales`, `\'`, `'')(`, "a and b", ""} {
		f.Add(s, "name eq 'a' or (tags.name sw 'b')")
	}
	appType := reflect.TypeFor[appDoc]()
	f.Fuzz(func(t *testing.T, value, expr string) {
		parseFilter(expr, appType) // must not panic
		n, err := parseFilter("name eq "+quote(value), appType)
		if err != nil {
			t.Fatalf("escaped value %q: %v", value, err)
		}
		c, ok := n.(cmpNode)
		if !ok || c.val.kind != litString || c.val.s != value {
			t.Fatalf("escaped value %q parsed as %#v", value, n)
		}
		doc := toGeneric(appDoc{Name: value})
		if !n.match(doc) || n.match(toGeneric(appDoc{Name: value + "x"})) {
			t.Fatalf("escaped value %q does not match exactly", value)
		}
	})
}
