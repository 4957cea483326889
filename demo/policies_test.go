package demo

import (
	"bytes"
	"testing"

	"github.com/qs-promoter/qs-promoter/actions"
	"github.com/qs-promoter/qs-promoter/daemon"
	"github.com/qs-promoter/qs-promoter/engine"
)

// TestShippedPolicies runs the policy tests of policies/ the way
// `qs-promoter test policies` does, against the real action specs and the
// daemon's default config values, so that `go test ./...` covers them.
func TestShippedPolicies(t *testing.T) {
	cfg := (&daemon.Config{Vars: map[string]any{}}).PolicyConfig()
	cfg["mail_enabled"], cfg["s3_enabled"] = true, false
	opts := engine.LoadOptions{Specs: actions.Specs(), Sites: Sites, Config: cfg}
	var out bytes.Buffer
	failed, err := engine.RunTests("../policies", opts, nil, &out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if failed > 0 {
		t.Fatalf("%d policy tests failed:\n%s", failed, out.String())
	}
	t.Log(out.String())
}
