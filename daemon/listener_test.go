package daemon

import (
	"strings"
	"testing"
)

func FuzzParseChanges(f *testing.F) {
	f.Add([]byte(`[{"changeType":2,"objectType":"App","objectID":"3b2c1f9e-7a44-4d0b-8f3e-2c9a1d5e7b21","changedProperties":["modifiedDate"]}]`))
	f.Add([]byte(`[{"changeType":1,"objectType":"app","objectID":"3B2C1F9E-7A44-4D0B-8F3E-2C9A1D5E7B21","extra":[1,2]}]`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		cs, err := parseChanges(body)
		if err != nil {
			return
		}
		if len(cs) == 0 || len(cs) > MaxChangesPerCallback {
			t.Fatalf("accepted %d changes", len(cs))
		}
		for _, c := range cs {
			if !guidRE.MatchString(c.ObjectID) || !strings.EqualFold(c.ObjectType, "App") {
				t.Fatalf("accepted %+v", c)
			}
		}
	})
}
