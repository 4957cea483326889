package actions

import (
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/qs-promoter/qs-promoter/engine"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// fastRetry keeps retry tests quick.
var fastRetry = Retry{Attempts: 3, Initial: 10 * time.Millisecond, Max: 20 * time.Millisecond}

// testFacts is an app published by a rep to a review stream on site dev,
// with a name that tries to break templates, headers and filters.
func testFacts() *engine.Facts {
	return &engine.Facts{
		Event: engine.EventFacts{Kind: "updated", Site: "dev", OriginatorHost: "qlik-dev.company.com",
			ReceivedAt: time.Date(2026, 11, 27, 9, 30, 6, 0, time.UTC)},
		App: engine.AppFacts{
			ID:           "3b2c1a00-1111-4222-8333-444455556666",
			Name:         `Sales "Q1" {{ app.id }} <b>`,
			Published:    true,
			Stream:       engine.StreamFacts{ID: "90081726-8077-4A1B-8320-86986AC3E55C", Name: "Review"},
			Owner:        engine.OwnerFacts{ID: "owner-id", UserID: "rep", Directory: "COMPANY", Name: "Rita Rep", Email: "rita@example.com", Account: `COMPANY\rep`},
			ModifiedBy:   `COMPANY\manager`,
			ModifiedDate: time.Date(2026, 11, 27, 9, 30, 5, 118e6, time.UTC),
			Properties:   map[string][]string{"PromoteToServer": {"test - Overwrite", "prod - Duplicate"}, "PromoteToStream": {"Everyone", "Sales"}},
		},
		Config: map[string]any{"server_property": "PromoteToServer", "stream_property": "PromoteToStream"},
	}
}

// stepIn builds the input of a step of action name with params, filling in
// the spec's defaults as the engine does.
func stepIn(t testing.TB, a engine.Action, params engine.Params) *engine.StepInput {
	t.Helper()
	p := engine.Params{}
	for _, sp := range a.Spec().Params {
		if v, ok := params[sp.Name]; ok {
			p[sp.Name] = v
		} else if sp.Default != nil {
			p[sp.Name] = sp.Default
		}
	}
	for k := range params {
		if _, ok := p[k]; !ok {
			t.Fatalf("%s has no parameter %s", a.Spec().Name, k)
		}
	}
	return &engine.StepInput{
		ExecutionID: "exec-0001",
		StepKey:     "test-policy/" + a.Spec().Name,
		Policy:      "test-policy",
		Facts:       testFacts(),
		Params:      p,
		Results:     map[string]engine.Result{},
		Journal:     newMemJournal(),
		Log:         slog.New(slog.DiscardHandler),
	}
}

// golden compares got with testdata/<name>, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}
