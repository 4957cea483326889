package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qs-promoter/qs-promoter/engine"
)

// TestReadmeConfigExamplesLoad keeps the README true: every configuration
// example in it (a YAML block starting with `sites:`) is one the daemon
// accepts, with the shipped policies.
func TestReadmeConfigExamplesLoad(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	approvers, err := os.ReadFile("../testdata/approvers.csv")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("SMTP_PASSWORD", "secret")
	t.Setenv("QSP_TEAMS_URL", "https://example.com/workflows/hook")
	found := 0
	for _, block := range strings.Split(string(b), "```yaml\n")[1:] {
		example, _, _ := strings.Cut(block, "```")
		if !strings.HasPrefix(example, "sites:") {
			continue
		}
		found++
		dir := t.TempDir()
		for _, name := range []string{"approvers.csv", "ApprovalStreamsToEmailAddressMap.csv"} {
			if err := os.WriteFile(filepath.Join(dir, name), approvers, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		c, err := ParseConfig(filepath.Join(dir, "qs-promoter.yaml"), []byte(example))
		if err != nil {
			t.Errorf("a configuration example in README.md does not load:\n%v\n%s", err, example)
			continue
		}
		if len(c.Sites) < 2 {
			t.Errorf("example %d has %d sites", found, len(c.Sites))
		}
		// Its vars are keys the shipped policies declare, of their types.
		if _, err := engine.Load("../policies", PolicyOptions(c, nil)); err != nil {
			t.Errorf("the shipped policies do not load with a configuration example of README.md:\n%v\n%s", err, example)
		}
	}
	if found < 2 {
		t.Fatalf("found %d configuration examples in README.md, want the going-live one and the reference", found)
	}
}
