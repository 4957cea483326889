package qrs_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/qs-promoter/qs-promoter/qrs"
)

const appID = "c0ffee00-0000-4000-8000-0000000000a1"

// storedApp is an app as a server keeps it, with fields App does not model.
const storedApp = `{
 "id": "c0ffee00-0000-4000-8000-0000000000a1",
 "modifiedDate": "2026-01-01T00:00:00.000Z",
 "name": "Sales",
 "owner": {"id": "0e000000-0000-4000-8000-000000000001", "userId": "anna", "userDirectory": "CORP", "name": "Anna",
           "userDirectoryConnectorName": "CORP-LDAP", "privileges": null},
 "customProperties": [
   {"id": "cp000000-0000-4000-8000-000000000001", "value": "dev",
    "definition": {"id": "de000000-0000-4000-8000-000000000001", "name": "Env", "valueType": "Text", "privileges": null},
    "privileges": ["read"]}
 ],
 "tags": [],
 "stream": null,
 "publishTime": "1753-01-01T00:00:00.000Z",
 "published": false,
 "fileSize": 12345678901,
 "lastDataDistribution": {"status": 3, "nested": {"keep": true}},
 "privileges": null
}`

// appServer keeps one app as raw JSON and answers GET and PUT like QRS:
// a PUT with an older modifiedDate gets 409.
type appServer struct {
	mu       sync.Mutex
	doc      map[string]any
	version  int
	puts     []string           // bodies as sent
	afterGet func(s *appServer) // runs after a GET answered (to race a write)
}

func (s *appServer) bump() {
	s.version++
	s.doc["modifiedDate"] = "2026-01-01T00:00:0" + string(rune('0'+s.version)) + ".000Z"
}

func (s *appServer) handle(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch r.Method {
	case http.MethodGet:
		json.NewEncoder(w).Encode(s.doc)
		if s.afterGet != nil {
			hook := s.afterGet
			s.afterGet = nil
			hook(s)
		}
	case http.MethodPut:
		var in map[string]any
		b, _ := io.ReadAll(r.Body)
		d := json.NewDecoder(strings.NewReader(string(b)))
		d.UseNumber()
		if err := d.Decode(&in); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		s.puts = append(s.puts, string(b))
		if in["modifiedDate"] != s.doc["modifiedDate"] {
			http.Error(w, "Conflict", http.StatusConflict)
			return
		}
		s.doc = in
		s.bump()
		json.NewEncoder(w).Encode(s.doc)
	}
}

func newAppServer(t *testing.T) (*appServer, *qrs.Client) {
	s := &appServer{}
	d := json.NewDecoder(strings.NewReader(storedApp))
	d.UseNumber()
	if err := d.Decode(&s.doc); err != nil {
		t.Fatal(err)
	}
	c, _ := newTestClient(t, s.handle, nil)
	return s, c
}

func TestUpdateAppKeepsUnmodelledFields(t *testing.T) {
	s, c := newAppServer(t)
	a, err := c.UpdateApp(context.Background(), appID, func(a *qrs.App) error {
		a.Description = "promoted"
		a.CustomProperties[0].Value = "test"
		a.CustomProperties = append(a.CustomProperties, qrs.CustomPropertyValue{Value: "prod",
			Definition: qrs.CustomPropertyDefinitionCondensed{ID: "de000000-0000-4000-8000-000000000001", Name: "Env"}})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if a.Description != "promoted" || len(a.PropertyValues("env")) != 2 {
		t.Errorf("answer %+v", a)
	}
	if len(s.puts) != 1 {
		t.Fatalf("%d PUTs", len(s.puts))
	}
	var doc map[string]any
	d := json.NewDecoder(strings.NewReader(s.puts[0]))
	d.UseNumber()
	if err := d.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	put, _ := json.Marshal(doc) // sorted keys, compact
	for _, want := range []string{
		`"userDirectoryConnectorName":"CORP-LDAP"`,
		`"lastDataDistribution":{"nested":{"keep":true},"status":3}`,
		`"fileSize":12345678901`,
		`"modifiedDate":"2026-01-01T00:00:00.000Z"`,
		`"description":"promoted"`,
		`"privileges":["read"]`, // kept on the existing value, matched by id
		`"value":"prod"`,
	} {
		if !strings.Contains(string(put), want) {
			t.Errorf("PUT body lacks %s:\n%s", want, put)
		}
	}
}

func TestUpdateAppRereadsOnConflict(t *testing.T) {
	s, c := newAppServer(t)
	// Someone renames the app between our read and our write.
	s.afterGet = func(s *appServer) {
		s.doc["name"] = "Sales (renamed)"
		s.bump()
	}
	calls := 0
	a, err := c.UpdateApp(context.Background(), appID, func(a *qrs.App) error {
		calls++
		a.Description = "seen name: " + a.Name
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if calls != 2 || len(s.puts) != 2 {
		t.Fatalf("change called %d times, %d PUTs; want 2 and 2", calls, len(s.puts))
	}
	if a.Name != "Sales (renamed)" || a.Description != "seen name: Sales (renamed)" {
		t.Errorf("the other write was lost: %+v", a)
	}
}

func TestUpdateAppGivesUp(t *testing.T) {
	s, c := newAppServer(t)
	var race func(s *appServer)
	race = func(s *appServer) { s.bump(); s.afterGet = race }
	s.afterGet = race
	_, err := c.UpdateApp(context.Background(), appID, func(a *qrs.App) error { a.Description = "x"; return nil })
	if !qrs.IsConflict(err) || !strings.Contains(err.Error(), "kept changing") {
		t.Fatalf("error %v", err)
	}
	if len(s.puts) != 5 {
		t.Errorf("%d PUTs, want 5", len(s.puts))
	}
}

func TestUpdateAppWithoutChangeWritesNothing(t *testing.T) {
	s, c := newAppServer(t)
	a, err := c.UpdateApp(context.Background(), appID, func(a *qrs.App) error { a.Description = ""; return nil })
	if err != nil || a.Name != "Sales" {
		t.Fatal(a, err)
	}
	if len(s.puts) != 0 {
		t.Errorf("%d PUTs for no change", len(s.puts))
	}
	wantErr := io.ErrUnexpectedEOF
	if _, err := c.UpdateApp(context.Background(), appID, func(a *qrs.App) error { a.Name = "x"; return wantErr }); err != wantErr {
		t.Errorf("error from change: %v", err)
	}
	if len(s.puts) != 0 {
		t.Errorf("PUT after change failed")
	}
}
