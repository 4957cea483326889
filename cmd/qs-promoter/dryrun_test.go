package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qs-promoter/qs-promoter/qrs/qrssim"
)

func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

const examplePolicies = "../../engine/testdata/policies"

func TestCheckCommand(t *testing.T) {
	code, out, _ := runCmd(t, "check", "--policies", examplePolicies)
	if code != 0 || !strings.HasPrefix(out, "ok: 1 files, 2 policies (revision ") {
		t.Errorf("check: %d %q", code, out)
	}
	code, out, _ = runCmd(t, "check", "--policies", "../../engine/testdata/check/unknown-fact")
	want := "../../engine/testdata/check/unknown-fact/a.yaml:7:25: app.owner has no \"mail\"; did you mean \"email\"?"
	if code != 1 || !strings.HasPrefix(out, want) {
		t.Errorf("check: %d\n%s", code, out)
	}
}

func TestDryRunRecordedEvent(t *testing.T) {
	code, out, errOut := runCmd(t, "dry-run", "--policies", examplePolicies, "--event", "../../testdata/events/published-to-review.json")
	if code != 0 {
		t.Fatalf("dry-run: %d %s", code, errOut)
	}
	for _, want := range []string{
		`event: published, updated on site dev for app "Sales Pipeline" (3b2c1f9e-7a44-4d0b-8f3e-2c9a1d5e7b21)`,
		"+ alert-review: MATCH: the event is published and when is true",
		`- promote-approved: no match: when clause 2 of 5 is false: lower(first(app.properties.PromotionApproval)) contains "approve"`,
		"       with:\n         body: |\n           App: Sales Pipeline\n",
		"         subject: 'Sales Pipeline' published to: 'Sales Review'",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = runCmd(t, "dry-run", "--json", "--policies", examplePolicies, "--event", "../../testdata/events/published-to-review.json")
	if !strings.Contains(out, `"kinds": [`) || !strings.Contains(out, `"received_at": "2026-`) {
		t.Errorf("the event is not under its policy-language names:\n%s", out)
	}
	var rep struct {
		DryRun   bool `json:"dry_run"`
		Policies []struct {
			Name    string
			Matched bool
			Reason  string
			Actions []struct { // the shape issue 3 gives
				Action string
				Params map[string]any
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 0 {
		t.Fatalf("json: %v\n%s", err, out)
	}
	if !rep.DryRun || len(rep.Policies) != 2 || !rep.Policies[0].Matched || rep.Policies[0].Actions[0].Action != "email" ||
		rep.Policies[0].Actions[0].Params["subject"] != "'Sales Pipeline' published to: 'Sales Review'" {
		t.Errorf("json report: %+v", rep)
	}
	if code, _, _ := runCmd(t, "dry-run", "--policies", examplePolicies); code != 2 {
		t.Errorf("dry-run without --event: exit %d", code)
	}
}

// TestDryRunLiveWritesNothing dry-runs a promotion against live simulated
// sites: the actions read the targets to describe what they would do, and
// no site sees a single write.
func TestDryRunLiveWritesNothing(t *testing.T) {
	dir := t.TempDir()
	sim, err := qrssim.Start(qrssim.Options{CertDir: filepath.Join(dir, "certs"), Sites: []qrssim.SiteOptions{
		{Alias: "dev", Seed: qrssim.DefaultSeed("dev")},
		{Alias: "test", Seed: qrssim.DefaultSeed("test")},
		{Alias: "prod", Seed: qrssim.DefaultSeed("prod")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "callback_url: http://127.0.0.1:5000\npolicies: %s\nstate_dir: %s\nsites:\n", filepath.Join(dir, "policies"), filepath.Join(dir, "state"))
	for _, s := range sim.Sites() {
		fmt.Fprintf(&cfg, "  - {alias: %s, host: localhost, port: %d, certs: %s, watch: %v}\n", s.Alias(), s.Port(), s.CertDir(), s.Alias() == "dev")
	}
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	configPath := write("config.yaml", cfg.String())
	write("policies/promote.yaml", `policies:
  - name: promote-everything
    on: [updated]
    when: app.published
    steps:
      - id: promote
        action: promote
        with:
          targets: [test - Overwrite, prod - Duplicate]
          streams: [Sales, Everyone, Nowhere]
      - id: unpublish
        action: unpublish
      - action: add-tag
        with: {tag: Promoted}
`)
	var appID string
	for _, a := range sim.Site("dev").Apps() {
		if a.Name == "Sales Dashboard" && a.Published {
			appID = a.ID
		}
	}
	if appID == "" {
		t.Fatal("the dev seed has no published Sales Dashboard app")
	}
	code, out, errOut := runCmd(t, "dry-run", "--live", "--config", configPath, "--site", "dev", "--app", appID)
	if code != 0 {
		t.Fatalf("dry-run --live: %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "+ promote-everything: MATCH") || !strings.Contains(out, "1. promote (promote) planned") ||
		!strings.Contains(out, "2. unpublish (unpublish) planned") {
		t.Errorf("output:\n%s", out)
	}
	t.Logf("dry-run --live:\n%s", out)
	for _, s := range sim.Sites() {
		if w := s.Writes(); len(w) != 0 {
			t.Errorf("site %s saw writes during a dry-run: %+v", s.Alias(), w)
		}
	}
	// An app that does not exist is reported as such (the daemon skips it).
	missing := "00000000-0000-4000-8000-00000000beef"
	code, _, errOut = runCmd(t, "dry-run", "--live", "--config", configPath, "--site", "dev", "--app", missing)
	if code != 1 || !strings.HasPrefix(errOut, "qs-promoter dry-run: app "+missing+" does not exist on site dev: ") ||
		!strings.Contains(errOut, "--app takes the ID of an app on site dev") {
		t.Errorf("dry-run --live of a missing app: %d %s", code, errOut)
	}
	t.Logf("dry-run --live of a missing app:\n%s", errOut)
}

// Without --config the shipped policies read the daemon's default config
// values: they evaluate instead of failing on unset keys.
func TestDryRunShippedPoliciesWithoutConfig(t *testing.T) {
	code, out, errOut := runCmd(t, "dry-run", "--policies", "../../policies", "--event", "../../testdata/events/published-to-review.json")
	if code != 0 || strings.Contains(out, "failed") {
		t.Fatalf("dry-run: %d %s\n%s", code, errOut, out)
	}
	for _, want := range []string{
		"config: no --config, so config.<key> are the defaults, with mail_enabled true and s3_enabled false",
		"+ alert-on-publish: MATCH: the event is published and all 4 when clauses are true",
		`- promote-approved: no match: when clause 2 of 6 is false`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
