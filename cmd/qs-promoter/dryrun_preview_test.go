package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qs-promoter/qs-promoter/engine"
	"github.com/qs-promoter/qs-promoter/qrs/qrssim"
)

// approvedEvent writes the recorded published-to-review event with the
// app approved for promotion to test, versioning asked, by CORP\boss.
func approvedEvent(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile("../../testdata/events/published-to-review.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev map[string]any
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	prop := func(name, value string) map[string]any {
		return map[string]any{"id": "cp-" + name, "value": value, "definition": map[string]any{"id": "def-" + name, "name": name, "valueType": "Text", "choiceValues": []any{}}}
	}
	app := ev["app"].(map[string]any)
	app["modifiedByUserName"] = `CORP\boss`
	app["customProperties"] = []any{prop("PromotionApproval", "Approve"), prop("PromoteToServer", "test - Overwrite"),
		prop("PromoteToStream", "Everyone"), prop("PromotionS3Versioning", "True")}
	out, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "approved.json")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// The JSON report lists actions as a list ([] for a policy that did not
// match), gives every action its params ({} when none), and shows the
// defaults filled in apart from what the policy gives.
func TestDryRunJSONShape(t *testing.T) {
	code, out, errOut := runCmd(t, "dry-run", "--json", "--policies", "../../policies", "--event", approvedEvent(t))
	if code != 0 {
		t.Fatalf("dry-run: %d %s", code, errOut)
	}
	var rep struct {
		Policies []struct {
			Name    string
			Matched bool
			Actions []map[string]any
		}
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	steps := map[string]map[string]any{}
	for _, p := range rep.Policies {
		if p.Actions == nil {
			t.Errorf("policy %s: actions is null, want a list", p.Name)
		}
		if !p.Matched && len(p.Actions) != 0 {
			t.Errorf("policy %s did not match but has actions %v", p.Name, p.Actions)
		}
		for _, a := range p.Actions {
			if _, ok := a["params"].(map[string]any); !ok {
				t.Errorf("%s/%s: params %v, want an object", p.Name, a["id"], a["params"])
			}
			steps[p.Name+"/"+a["id"].(string)] = a
		}
	}
	if !strings.Contains(out, `"actions": []`) {
		t.Errorf("no policy without a match shows \"actions\": []:\n%s", out)
	}
	if p := steps["promote-approved/unpublish"]["params"]; fmt.Sprint(p) != "map[]" {
		t.Errorf("unpublish params %v, want {}", p)
	}
	mail := steps["promote-approved/approved-mail"]
	params, _ := mail["params"].(map[string]any)
	defaults, _ := mail["defaults"].(map[string]any)
	if _, ok := params["results_from"]; ok || defaults["results_from"] != "promote" || params["template"] != "approved" {
		t.Errorf("approved-mail params %v, defaults %v", params, defaults)
	}
}

// Dry-run previews every e-mail as it would go out, from a recorded event
// and the built-in templates: to, cc, subject and body, in the text and on
// the e-mail action's JSON entry.
func TestDryRunPreviewsEmail(t *testing.T) {
	event := approvedEvent(t)
	code, out, errOut := runCmd(t, "dry-run", "--policies", "../../policies", "--event", event)
	if code != 0 {
		t.Fatalf("dry-run: %d %s", code, errOut)
	}
	want := `  1. approved-mail (email) planned: would e-mail “'Sales Pipeline' promotion approved by: 'CORP\boss'” to sam.rep@example.com
       preview:
         to: [sam.rep@example.com]
         cc: []
         subject: 'Sales Pipeline' promotion approved by: 'CORP\boss'
         body: |
           Hello Sam Rep,

           your app 'Sales Pipeline' has been approved for promotion.
`
	for _, w := range []string{want, "         subject: 'Sales Pipeline' promotion results\n",
		"       with:\n         template: approved\n         to: [sam.rep@example.com]\n       defaults: results_from: promote, to_stream_approvers: false\n"} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks\n%s\n%s", w, out)
		}
	}

	code, out, errOut = runCmd(t, "dry-run", "--json", "--policies", "../../policies", "--event", event)
	if code != 0 {
		t.Fatalf("dry-run --json: %d %s", code, errOut)
	}
	var rep struct {
		Policies []struct {
			Actions []struct {
				ID      string
				To, Cc  []string
				Subject string
				Body    *string
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, p := range rep.Policies {
		for _, a := range p.Actions {
			switch a.ID {
			case "approved-mail":
				found++
				if strings.Join(a.To, ",") != "sam.rep@example.com" || a.Cc == nil || len(a.Cc) != 0 ||
					a.Subject != `'Sales Pipeline' promotion approved by: 'CORP\boss'` || a.Body == nil ||
					!strings.Contains(*a.Body, "Approved by:    CORP\\boss\nTarget sites:   test - Overwrite\nTarget streams: Everyone\n") {
					t.Errorf("approved-mail entry: %+v", a)
				}
			case "results-mail":
				found++
				if a.Subject != "'Sales Pipeline' promotion results" || a.Body == nil || !strings.Contains(*a.Body, "Stream: Everyone") {
					t.Errorf("results-mail entry: %+v", a)
				}
			}
		}
	}
	if found != 2 {
		t.Errorf("found %d of the 2 e-mails in the JSON:\n%s", found, out)
	}
}

// With a configuration, the planned S3 key carries its prefix, and
// describe previews the text it would set, naming the S3 version.
func TestDryRunS3PrefixAndDescription(t *testing.T) {
	dir := t.TempDir()
	sim, err := qrssim.Start(qrssim.Options{CertDir: filepath.Join(dir, "certs"), Sites: []qrssim.SiteOptions{
		{Alias: "dev", Seed: qrssim.DefaultSeed("dev")}, {Alias: "test", Seed: qrssim.DefaultSeed("test")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	// A webhook: dry-run shows its payload under its name, never its URL.
	const secretURL = "https://prod-42.westeurope.logic.azure.com/workflows/SECRET-WORKFLOW/triggers/manual/paths/invoke?sig=SECRET-SIG"
	if err := os.WriteFile(filepath.Join(dir, "teams.url"), []byte(secretURL+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "callback_url: http://127.0.0.1:5000\npolicies: ../../policies\nstate_dir: %s\ns3: {bucket: app-versions, prefix: Versions/Test/, region: eu-west-1}\nwebhooks: [{name: chat, url_file: teams.url, format: teams}]\nsites:\n", filepath.Join(dir, "state"))
	for _, s := range sim.Sites() {
		fmt.Fprintf(&cfg, "  - {alias: %s, host: localhost, port: %d, certs: %s, watch: %v}\n", s.Alias(), s.Port(), s.CertDir(), s.Alias() == "dev")
	}
	configPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(configPath, []byte(cfg.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCmd(t, "dry-run", "--config", configPath, "--policies", "../../policies", "--event", approvedEvent(t))
	if code != 0 {
		t.Fatalf("dry-run: %d %s\n%s", code, errOut, out)
	}
	for _, want := range []string{
		"3. s3 (s3-version) planned: would version 'Sales Pipeline' (exported without data from site dev) as s3://app-versions/Versions/Test/Sales Pipeline-Template.qvf\n",
		"       preview:\n         description: |\n           App promoted from node: 'qlik-dev.example.com' by: 'CORP\\boss' at: '2026-11-27T09:30:05.118Z' where it was owned by: 'CORP\\sales_rep'\n\n           S3 Version ID: <version ID from S3>\n",
		"8. approved-chat (webhook) planned: would post “'Sales Pipeline' promotion approved by 'CORP\\boss'” to chat\n",
		"         to: [chat]\n",
		`             "contentType": "application/vnd.microsoft.card.adaptive",`,
		"9. results-chat (webhook) planned: would post “'Sales Pipeline' promotion results” to chat\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks\n%s\n%s", want, out)
		}
	}
	if strings.Contains(out, "SECRET") || strings.Contains(out, "logic.azure.com") {
		t.Errorf("the webhook's URL shows in the dry-run:\n%s", out)
	}
}

// A preview field never overwrites a key of the action's entry.
func TestPreviewFieldsKeepTheEntryKeys(t *testing.T) {
	b, err := json.Marshal(actionJSON{ID: "mail", Params: map[string]any{}, preview: []engine.PreviewField{{Name: "id", Value: "x"}, {Name: "to", Value: []string{}}}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"id":"mail",`) || !strings.HasSuffix(string(b), `,"preview_id":"x","to":[]}`) {
		t.Errorf("entry %s", b)
	}
}
