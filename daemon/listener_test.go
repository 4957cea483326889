package daemon

import (
	"slices"
	"strings"
	"testing"

	"github.com/qs-promoter/qs-promoter/qrs"
)

func FuzzParseChanges(f *testing.F) {
	f.Add([]byte(`[{"changeType":2,"objectType":"App","objectID":"3b2c1f9e-7a44-4d0b-8f3e-2c9a1d5e7b21","changedProperties":["modifiedDate"]}]`))
	f.Add([]byte(`[{"changeType":1,"objectType":"app","objectID":"3B2C1F9E-7A44-4D0B-8F3E-2C9A1D5E7B21","extra":[1,2]}]`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		cs, _, err := parseChanges(body)
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

// Only objectType, objectID and changeType decide; the other fields may hold
// anything (QRS does not send a rejected callback again).
func TestParseChangesIgnoresWhatItDoesNotUse(t *testing.T) {
	const id = "3b2c1f9e-7a44-4d0b-8f3e-2c9a1d5e7b21"
	for _, tc := range []struct {
		name, elem string
		want       qrs.ChangeType
		props      []string
	}{
		{"a real capture's shape", `{"changeType":2,"objectType":"App","objectID":"` + id + `","changedProperties":["modifiedDate","publishTime"],"engineID":"","engineType":"","originatorNodeID":"6b3a6fa8-6f3d-4211-9823-75976a88623d","originatorHostName":"some-host-name.com","originatorContextID":null,"createdDate":"2024-11-19T07:37:20.031Z","modifiedDate":"2024-11-19T07:37:20.156Z","schemaPath":"ExternalChangeInfo"}`,
			qrs.ChangeUpdate, []string{"modifiedDate", "publishTime"}},
		{"change type by name", `{"changeType":"Update","objectType":"App","objectID":"` + id + `"}`, qrs.ChangeUpdate, nil},
		{"change type in capitals", `{"changeType":"ADD","objectType":"app","objectID":"` + strings.ToUpper(id) + `"}`, qrs.ChangeAdd, nil},
		{"change type number as text", `{"changeType":"3","objectType":"App","objectID":"` + id + `"}`, qrs.ChangeDelete, nil},
		{"numbers where strings were", `{"changeType":2,"objectType":"App","objectID":"` + id + `","engineType":1,"engineID":0,"originatorNodeID":12,"originatorHostName":3.5,"originatorContextID":7,"createdDate":1732001840031,"modifiedDate":1732001840156,"schemaPath":5}`,
			qrs.ChangeUpdate, nil},
		{"nulls everywhere", `{"changeType":2,"objectType":"App","objectID":"` + id + `","changedProperties":null,"engineID":null,"engineType":null,"originatorNodeID":null,"originatorHostName":null,"createdDate":null,"modifiedDate":null,"schemaPath":null}`,
			qrs.ChangeUpdate, nil},
		{"objects and odd lists", `{"changeType":2,"objectType":"App","objectID":"` + id + `","engineType":{"x":1},"changedProperties":["lastReloadTime",3,null,{"a":1}],"modifiedDate":[1]}`,
			qrs.ChangeUpdate, []string{"lastReloadTime", "3"}},
		{"one property as a string", `{"changeType":2,"objectType":"App","objectID":"` + id + `","changedProperties":"publishTime"}`, qrs.ChangeUpdate, []string{"publishTime"}},
		{"field names in another case", `{"ChangeType":2,"OBJECTTYPE":"App","objectId":"` + id + `","ChangedProperties":["name"]}`, qrs.ChangeUpdate, []string{"name"}},
	} {
		cs, ignored, err := parseChanges([]byte("[" + tc.elem + "]"))
		if err != nil || len(cs) != 1 || len(ignored) != 0 {
			t.Errorf("%s: %+v, ignored %v, %v", tc.name, cs, ignored, err)
			continue
		}
		if c := cs[0]; c.ChangeType != tc.want || !strings.EqualFold(c.ObjectID, id) || !slices.Equal(c.ChangedProperties, tc.props) {
			t.Errorf("%s: got %+v", tc.name, c)
		}
	}

	// In a mixed callback the App changes are taken, the rest ignored with a reason.
	body := `[{"changeType":2,"objectType":"Stream","objectID":"` + id + `"},
		{"changeType":"Renamed","objectType":"App","objectID":"` + id + `"},
		{"changeType":2,"objectType":"App","objectID":"not-a-guid"},
		{"changeType":0,"objectType":"App","objectID":"` + id + `"},
		"text",
		{"changeType":"update","objectType":"App","objectID":"` + id + `","engineType":7}]`
	cs, ignored, err := parseChanges([]byte(body))
	if err != nil || len(cs) != 1 || len(ignored) != 5 {
		t.Fatalf("mixed: %+v, ignored %q, %v", cs, ignored, err)
	}
	for i, want := range []string{"objectType \"Stream\"", "changeType \"Renamed\"", "not a GUID", "Undefined", "want an object"} {
		if !strings.Contains(ignored[i], want) {
			t.Errorf("ignored[%d] = %q, want it to say %s", i, ignored[i], want)
		}
	}
}
