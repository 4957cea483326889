package engine

import (
	"strings"
	"testing"
)

// Odd recorded events get an error that names the field and says what it
// wants in JSON terms, not Go types.
func TestReadEventOddShapes(t *testing.T) {
	tests := map[string]string{
		`[]`:                                   "the event is a JSON array; want an object with site, receivedAt, notification, app, stream and owner",
		`"x"`:                                  "the event is a JSON string; want an object with",
		`{"app": {"id": "x", "owner": "bob"}}`: "app.owner holds a JSON string, want an object",
		`{"app": {"id": "x"}, "owner": 3}`:     "owner holds a JSON number, want an object",
		`{"app": {"id": "x"}, "notification": {}}`:                          "notification holds a JSON object, want a list",
		`{"app": {"id": "x"}, "notification": [{"changeType": "Renamed"}]}`: `changeType "Renamed" is not Add, Update, Delete`,
		`{"app": {"id": "x", "fileSize": "big"}}`:                           "app.fileSize holds a JSON string, want a whole number",
		`{"app": {"id": "x", "published": "yes"}}`:                          "app.published holds a JSON string, want true or false",
		`{"app": {"id": "x"}, "receivedAt": "yesterday"}`:                   `receivedAt: want an RFC 3339 time like 2026-11-27T09:30:05Z, got "yesterday"`,
	}
	for in, want := range tests {
		_, err := ReadEvent(strings.NewReader(in))
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s:\n got %v\nwant %s…", in, err, want)
		}
	}
}

// FuzzReadEvent: no recorded event, however odd (app null, owner missing,
// wrong types), makes reading it, building its facts or evaluating
// policies against them panic.
func FuzzReadEvent(f *testing.F) {
	for _, s := range []string{
		`{"site": "dev", "app": {"id": "x"}}`,
		`{"app": null, "owner": null, "stream": null}`,
		`{"app": {"id": "x", "owner": null, "stream": {"id": "s"}, "customProperties": [null, {"definition": null}], "tags": [null]}, "stream": {"id": "S"}, "owner": {"id": ""}}`,
		`{"app": {"id": "x"}, "notification": [null, {"changeType": 2, "changedProperties": ["publishTime", null]}], "kind": "manual"}`,
		`{"app": {"id": "x", "publishTime": "not a time", "fileSize": -1}, "receivedAt": "2026-11-27T09:30:05Z"}`,
	} {
		f.Add([]byte(s))
	}
	rs, err := Load("testdata/policies", testOpts)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := ReadEvent(strings.NewReader(string(data)))
		if err != nil {
			return
		}
		facts, err := NewFacts(ev, nil)
		if err != nil {
			t.Fatalf("a read event has no facts: %v", err)
		}
		rs.Evaluate(facts)
	})
}
