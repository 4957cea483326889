package demo

import (
	"bytes"
	"testing"

	"github.com/qs-promoter/qs-promoter/daemon"
	"github.com/qs-promoter/qs-promoter/engine"
)

// TestShippedPolicies runs the policy tests of policies/ the way
// `qs-promoter test policies` does (the load options of every command,
// without a configuration), so that `go test ./...` covers them.
func TestShippedPolicies(t *testing.T) {
	opts := daemon.PolicyOptions(nil, Sites)
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
