package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qs-promoter/qs-promoter/engine"
)

// TestReadmeConfigExamplesLoad keeps the documentation true: every
// configuration example in it (a YAML block starting with `sites:`: the
// README's going-live one, the configuration reference's) is one the daemon
// accepts, with the shipped policies.
func TestReadmeConfigExamplesLoad(t *testing.T) {
	var examples []struct{ doc, yaml string }
	for _, doc := range []string{"README.md", "docs/configuration.md"} {
		b, err := os.ReadFile(filepath.Join("..", doc))
		if err != nil {
			t.Fatal(err)
		}
		for _, block := range strings.Split(string(b), "```yaml\n")[1:] {
			example, _, _ := strings.Cut(block, "```")
			if strings.HasPrefix(example, "sites:") {
				examples = append(examples, struct{ doc, yaml string }{doc, example})
			}
		}
	}
	approvers, err := os.ReadFile("../testdata/approvers.csv")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("SMTP_PASSWORD", "secret")
	t.Setenv("QSP_TEAMS_URL", "https://example.com/workflows/hook")
	t.Setenv("QSP_CONSOLE_SESSION_KEY", "0123456789abcdef0123456789abcdef")
	t.Setenv("QSP_METRICS_TOKEN", "0123456789abcdef")
	found := 0
	for _, e := range examples {
		doc, example := e.doc, e.yaml
		found++
		dir := t.TempDir()
		for _, name := range []string{"approvers.csv", "ApprovalStreamsToEmailAddressMap.csv"} {
			if err := os.WriteFile(filepath.Join(dir, name), approvers, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		c, err := ParseConfig(filepath.Join(dir, "qs-promoter.yaml"), []byte(example))
		if err != nil {
			t.Errorf("a configuration example in %s does not load:\n%v\n%s", doc, err, example)
			continue
		}
		if len(c.Sites) < 2 {
			t.Errorf("example %d (%s) has %d sites", found, doc, len(c.Sites))
		}
		// Its vars are keys the shipped policies declare, of their types.
		if _, err := engine.Load("../policies", PolicyOptions(c, nil)); err != nil {
			t.Errorf("the shipped policies do not load with a configuration example of %s:\n%v\n%s", doc, err, example)
		}
	}
	if found < 2 {
		t.Fatalf("found %d configuration examples in README.md and docs/configuration.md, want the going-live one and the reference", found)
	}
}
