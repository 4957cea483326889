package qspromoter_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qs-promoter/qs-promoter/daemon"
	"github.com/qs-promoter/qs-promoter/engine"
)

// The policy language reference's policy test example runs green against the shipped policies,
// as `qs-promoter test` would run it: the documentation stays executable.
func TestReadmePolicyTestExamplePasses(t *testing.T) {
	b, err := os.ReadFile("docs/policy-language.md")
	if err != nil {
		t.Fatal(err)
	}
	const head = "```yaml\n# policies/workflow_test.yaml (shortened)\n"
	_, rest, ok := strings.Cut(string(b), head)
	if !ok {
		t.Fatal("docs/policy-language.md has no policy test example")
	}
	example, _, _ := strings.Cut(rest, "```")
	dir := t.TempDir()
	names, _ := filepath.Glob("policies/*.yaml")
	for _, n := range names {
		if strings.HasSuffix(n, "_test.yaml") {
			continue
		}
		data, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, filepath.Base(n)), data, 0o644)
	}
	os.MkdirAll(filepath.Join(dir, "testdata"), 0o755)
	event, err := os.ReadFile("policies/testdata/published-to-review.json")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "testdata", "published-to-review.json"), event, 0o644)
	os.WriteFile(filepath.Join(dir, "readme_test.yaml"), []byte(example), 0o644)
	var out bytes.Buffer
	failed, err := engine.RunTests(dir, daemon.PolicyOptions(nil, []string{"test", "prod"}), nil, &out)
	if err != nil || failed > 0 || !strings.Contains(out.String(), "2 cases passed") {
		t.Errorf("the example of docs/policy-language.md: %d failed, %v\n%s", failed, err, out.String())
	}
}

// The policy language reference's example policy file loads as it is.
func TestReadmePolicyExampleLoads(t *testing.T) {
	b, err := os.ReadFile("docs/policy-language.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "```yaml\n# policies/30-approval.yaml (shortened)\n")
	if !ok {
		t.Fatal("docs/policy-language.md has no example policy file")
	}
	example, _, _ := strings.Cut(rest, "```")
	rs, err := engine.LoadFiles(map[string][]byte{"30-approval.yaml": []byte(example)}, daemon.PolicyOptions(nil, []string{"test", "prod"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(rs.Policies) != 1 || rs.Config()["auto_unpublish"] != true {
		t.Errorf("%d policies, config %v", len(rs.Policies), rs.Config())
	}
}
