package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qs-promoter/qs-promoter/qrs/qrssim"
)

// copyShippedPolicies copies policies/*.yaml into dir/policies, applying
// the edits (old → new) to the file named.
func copyShippedPolicies(t *testing.T, dir string, file string, edits ...string) string {
	t.Helper()
	to := filepath.Join(dir, "policies")
	if err := os.MkdirAll(to, 0o755); err != nil {
		t.Fatal(err)
	}
	names, _ := filepath.Glob("../../policies/*.yaml")
	for _, n := range names {
		if strings.HasSuffix(n, "_test.yaml") {
			continue
		}
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		if filepath.Base(n) == file {
			for i := 0; i+1 < len(edits); i += 2 {
				if !strings.Contains(text, edits[i]) {
					t.Fatalf("%s lacks %q", n, edits[i])
				}
				text = strings.Replace(text, edits[i], edits[i+1], 1)
			}
		}
		if err := os.WriteFile(filepath.Join(to, filepath.Base(n)), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return to
}

// check without --config (as CI runs it) refuses a misspelt config.<key>
// exactly as serve (and check --config) does.
func TestCheckWithoutConfigRefusesAnUndeclaredKey(t *testing.T) {
	dir := t.TempDir()
	policies := copyShippedPolicies(t, dir, "10-publish-alert.yaml", "      config.publish_alerts\n", "      config.publish_alert\n")
	want := filepath.Join(policies, "10-publish-alert.yaml") + `:27:14: config has no "publish_alert"; did you mean "publish_alerts"? (it has: alert_property, approval_property, approvers, auto_unpublish, auto_versioning, four_eyes, mail_enabled, promote_on_reload, publish_alerts, reload_property, reload_tag, s3_enabled, server_property, sites, stream_property, unpublish_property, versioning, versioning_property, webhook_approved, webhook_denied, webhook_publish_alert, webhook_refused, webhook_results, webhooks); a new key is declared under config: at the top of the file, with its default` + "\n"
	code, out, _ := runCmd(t, "check", "--policies", policies)
	if code != 1 || out != want {
		t.Errorf("check --policies: exit %d\n%s\nwant\n%s", code, out, want)
	}
	cfg := filepath.Join(dir, "qs-promoter.yaml")
	os.WriteFile(cfg, []byte("sites: [{alias: dev, host: localhost, certs: "+filepath.Join(dir, "certs")+"}]\npolicies: policies\n"), 0o644)
	code, out, _ = runCmd(t, "check", "--config", cfg)
	if code != 1 || !strings.Contains(out, want) {
		t.Errorf("check --config does not report it as check without one does: exit %d\n%s", code, out)
	}
}

// check --config reports every problem at once, each at its file:line:col:
// the configuration's own, a certificate folder (at its certs: value), the
// callback_url, a vars key no policy declares, and the policies' (in the
// order of their file names).
func TestCheckConfigReportsEverythingAtOnce(t *testing.T) {
	dir := t.TempDir()
	sim, err := qrssim.Start(qrssim.Options{CertDir: filepath.Join(dir, "certs"), Sites: []qrssim.SiteOptions{{Alias: "dev", Seed: qrssim.DefaultSeed("dev")}}})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	dev := sim.Site("dev")
	policies := copyShippedPolicies(t, dir, "30-approval.yaml", "      and config.mail_enabled\n", "      and config.mail_enable\n")
	missing := filepath.Join(dir, "cert", "test")
	path := filepath.Join(dir, "qs-promoter.yaml")
	text := fmt.Sprintf(`sites:
  - alias: dev
    host: localhost
    port: %d
    certs: %s
    watch: true
  - alias: test
    host: localhost
    certs: %s
callback_url: promoter:5000
policies: policies
workers: many
vars:
  auto_unpublsh: false
`, dev.Port(), dev.CertDir(), missing)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ := runCmd(t, "check", "--config", path)
	want := strings.Join([]string{
		filepath.Join(policies, "30-approval.yaml") + `:109:18: config has no "mail_enable"; did you mean "mail_enabled"? (it has: alert_property, approval_property, approvers, auto_unpublish, auto_versioning, four_eyes, mail_enabled, promote_on_reload, publish_alerts, reload_property, reload_tag, s3_enabled, server_property, sites, stream_property, unpublish_property, versioning, versioning_property, webhook_approved, webhook_denied, webhook_publish_alert, webhook_refused, webhook_results, webhooks); a new key is declared under config: at the top of the file, with its default`,
		path + `:9:12: qrs: site "test": ` + missing + `: no certificates yet (client.pem, client_key.pem, root.pem): in the QMC of site test, Certificates → Add machine name (the machine that runs qs-promoter), no password, Platform independent PEM, Include secret key → Export certificates; then copy the three files from C:\ProgramData\Qlik\Sense\Repository\Exported Certificates\<machine> into ` + missing,
		path + `:10:15: callback_url: "promoter:5000" is not an http(s) URL without query, e.g. http://promoter.company.com:5000`,
		path + `:12:10: workers: want a whole number, got "many"`,
		path + `:14:3: unknown key "auto_unpublsh" in vars; did you mean "auto_unpublish"? (known: alert_property, approval_property, auto_unpublish, auto_versioning, four_eyes, promote_on_reload, publish_alerts, reload_property, reload_tag, server_property, stream_property, unpublish_property, versioning, versioning_property, webhook_approved, webhook_denied, webhook_publish_alert, webhook_refused, webhook_results): vars sets only keys that a policy file declares under config:`,
	}, "\n") + "\n"
	if code != 1 || out != want {
		t.Errorf("exit %d\n%s\nwant\n%s", code, out, want)
	}
}
