package daemon

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/qs-promoter/qs-promoter/actions"
)

func TestParseConfigDefaultsAndPaths(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "qs-promoter.yaml")
	cfg, err := ParseConfig(path, []byte(`
sites:
  - alias: dev
    host: qlik-dev.company.com
    watch: true
  - alias: test
    host: qlik-test.company.com
    port: 4243
    certs: /etc/qs/test
    response_timeout: 10m
    hub_host: qlik.company.com
user: INTERNAL\sa_promoter
callback_url: http://promoter.company.com:5000/
vars:
  auto_unpublish: false
  my_flag: 3
coalesce_window: 250ms
`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Sites[0].Port != 4242 || cfg.Sites[0].Certs != filepath.Join(dir, "certs", "dev") || cfg.Sites[1].Certs != "/etc/qs/test" {
		t.Errorf("sites: %+v", cfg.Sites)
	}
	if q := cfg.QRSConfig(cfg.Sites[1]); q.ResponseTimeout != 10*time.Minute || q.ConnectTimeout != 0 || q.HubHost != "qlik.company.com" || q.User != `INTERNAL\sa_promoter` {
		t.Errorf("QRS config of test: %+v", q)
	}
	if cfg.StateDir != filepath.Join(dir, "data") || cfg.Policies != filepath.Join(dir, "policies") {
		t.Errorf("paths: state %s policies %s", cfg.StateDir, cfg.Policies)
	}
	if cfg.CallbackURL != "http://promoter.company.com:5000" || cfg.Listen != DefaultListen {
		t.Errorf("listener: %q %q", cfg.CallbackURL, cfg.Listen)
	}
	if cfg.CoalesceWindow != 250*time.Millisecond || cfg.CatchupInterval != DefaultCatchupInterval || cfg.Workers != DefaultWorkers ||
		cfg.GiveUpAfter != 24*time.Hour || cfg.MaxAttempts != DefaultMaxAttempts {
		t.Errorf("durations: %+v", cfg)
	}
	l := cfg.TransferLimits()
	if l.MaxTransfers["dev"] != actions.DefaultMaxTransfers || l.SpoolMinFree != DefaultSpoolMinFreeMB<<20 || l.SpoolMax != 0 ||
		l.SpoolDir != filepath.Join(dir, "data", "tmp") {
		t.Errorf("transfer limits: %+v", l)
	}
	if cfg.Vars["auto_unpublish"] != false || cfg.Vars["my_flag"] != 3 {
		t.Errorf("vars: %v", cfg.Vars)
	}
}

func TestParseConfigErrorsArePositioned(t *testing.T) {
	cases := []struct{ name, yaml, want string }{
		{"unknown key", "sites:\n  - alias: dev\n    host: h\n    hots: x\n", `c.yaml:4:5: unknown key "hots" in sites[0]; did you mean "host"? (known: alias, host, port, certs, server_name, insecure_skip_verify, watch, hub_host, connect_timeout, response_timeout, max_transfers)`},
		{"unknown top-level key", "sites: [{alias: dev, host: h}]\ncalback_url: x\n", `c.yaml:2:1: unknown key "calback_url" in the config; did you mean "callback_url"?`},
		{"password in file", "sites: [{alias: dev, host: h}]\nsmtp:\n  host: mail\n  password: hunter2\n", "c.yaml:4:3: smtp.password: secrets are never read from the config file"},
		{"bad duration", "sites: [{alias: dev, host: h}]\ncatchup_interval: often\n", "c.yaml:2:19: catchup_interval: want a duration such as 500ms, 30s or 5m, got \"often\""},
		{"bad port", "sites:\n  - alias: dev\n    host: h\n    port: 99999\n", "c.yaml:4:11: sites[0].port: 99999 is not a TCP port"},
		{"port type", "sites:\n  - alias: dev\n    host: h\n    port: abc\n", `c.yaml:4:11: sites[0].port: want a whole number, got "abc"`},
		{"duplicate alias", "sites:\n  - {alias: dev, host: h}\n  - {alias: DEV, host: h}\n", `c.yaml:3:13: sites[1].alias: "DEV" is used by another site`},
		{"missing host", "sites:\n  - alias: dev\n", "c.yaml:2:5: sites[0]: host is required"},
		{"watch needs callback", "sites:\n  - alias: dev\n    host: h\n    watch: true\n", "c.yaml:1:1: callback_url is required when a site is watched"},
		{"bad callback", "sites: [{alias: dev, host: h, watch: true}]\ncallback_url: promoter:5000\n", `c.yaml:2:15: callback_url: "promoter:5000" is not an http(s) URL`},
		{"yaml syntax", "sites:\n  - alias: dev\n   host: h\n", "c.yaml:3:4: YAML syntax: this line is indented by 3 spaces, which lines up with no line above it (4 on line 2, 2 on line 2, 0 on line 1): indent it as the keys it belongs with"},
		{"second document", "sites: [{alias: dev, host: h}]\n---\nworkers: 2\n", "c.yaml:2:1: a second YAML document (after ---): a file holds one; remove the --- and merge what follows into the first"},
		{"tab", "sites:\n  - alias: dev\n\thost: h\n", "c.yaml:3:1: YAML syntax: a tab in the indentation; indent with spaces only"},
		{"empty", "", "c.yaml:1:1: the config file is empty"},
		{"no sites", "user: x\n", "c.yaml:1:1: sites: list at least one site"},
		{"smtp env missing", "sites: [{alias: dev, host: h}]\nsmtp: {host: mail, from: a@b.c, username: u, password_env: QSP_TEST_NOT_SET}\n", "c.yaml:2:1: smtp: password for u"},
		{"rescue too short", "sites: [{alias: dev, host: h}]\nrescue_after: 10s\n", "c.yaml:2:15: rescue_after: 10s is too short"},
		{"webhook format", "sites: [{alias: dev, host: h}]\nwebhooks:\n  - name: chat\n    url_env: QSP_TEST_HOOK\n    format: temas\n", `c.yaml:5:13: webhooks[0]: format "temas" is not one of teams, slack, json; did you mean "teams"?`},
		{"webhook url in the file", "sites: [{alias: dev, host: h}]\nwebhooks:\n  - name: chat\n    url: https://x.example/hook\n    format: teams\n", "c.yaml:4:5: webhooks[0].url: a webhook's URL is a secret and is never read from the config file: use url_env"},
		{"webhook key typo", "sites: [{alias: dev, host: h}]\nwebhooks:\n  - name: chat\n    url_evn: X\n    format: teams\n", `c.yaml:4:5: unknown key "url_evn" in webhooks[0]; did you mean "url_env"?`},
		{"webhook env missing", "sites: [{alias: dev, host: h}]\nwebhooks:\n  - name: chat\n    url_env: QSP_TEST_NOT_SET\n    format: teams\n", "c.yaml:4:14: webhooks[0]: webhook chat: the URL: environment variable QSP_TEST_NOT_SET is not set"},
		{"webhook header env missing", "sites: [{alias: dev, host: h}]\nwebhooks:\n  - name: chat\n    url_env: QSP_TEST_HOOK\n    format: json\n    headers_env: {X-Key: QSP_TEST_NOT_SET}\n", "c.yaml:6:26: webhooks[0]: webhook chat: header X-Key: environment variable QSP_TEST_NOT_SET is not set"},
		{"webhook name twice", "sites: [{alias: dev, host: h}]\nwebhooks:\n  - {name: chat, url_env: QSP_TEST_HOOK, format: teams}\n  - {name: Chat, url_env: QSP_TEST_HOOK, format: slack}\n", `c.yaml:4:12: webhooks[1].name: "Chat" is used by another webhook`},
		{"give_up_after negative", "sites: [{alias: dev, host: h}]\ngive_up_after: -1h\n", "c.yaml:2:16: give_up_after: must not be negative"},
		{"admin not an address", "sites: [{alias: dev, host: h}]\nsmtp:\n  host: mail\n  from: a@b.c\n  admin: [ops@example.com, qlik admins]\n",
			`c.yaml:5:28: smtp.admin[1]: "qlik admins" is not an e-mail address (the admins told of executions that fail for good)`},
		{"admin not a list", "sites: [{alias: dev, host: h}]\nsmtp:\n  host: mail\n  from: a@b.c\n  admin: ops@example.com\n",
			`c.yaml:5:10: smtp.admin: want a list, got "ops@example.com"`},
		{"max_transfers", "sites:\n  - alias: dev\n    host: h\n    max_transfers: -1\n", "c.yaml:4:20: sites[0].max_transfers: -1 is out of range (1-64)"},
		{"spool", "sites: [{alias: dev, host: h}]\nspool:\n  max_mb: -5\n", "c.yaml:3:11: spool.max_mb: must not be negative"},
		{"spool key", "sites: [{alias: dev, host: h}]\nspool:\n  min_free: 5\n", `c.yaml:3:3: unknown key "min_free" in spool (known: max_mb, min_free_mb)`},
	}
	t.Setenv("QSP_TEST_HOOK", "https://hooks.example.com/SECRET")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseConfig("c.yaml", []byte(c.yaml))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v\nwant %q", err, c.want)
			}
		})
	}
}

func TestParseConfigReportsEveryProblem(t *testing.T) {
	// Decoding problems and the checks made after decoding, at once.
	_, err := ParseConfig("c.yaml", []byte("sites:\n  - alias: dev\n    hots: h\n    watch: true\nlisten: [1]\nworkers: many\nrescue_after: 5s\n"))
	want := `c.yaml:1:1: callback_url is required when a site is watched: the address QRS calls back, e.g. http://promoter.company.com:5000
c.yaml:2:5: sites[0]: host is required (the QRS server's name or address)
c.yaml:3:5: unknown key "hots" in sites[0]; did you mean "host"? (known: alias, host, port, certs, server_name, insecure_skip_verify, watch, hub_host, connect_timeout, response_timeout, max_transfers)
c.yaml:5:9: listen: want a string, got a list
c.yaml:6:10: workers: want a whole number, got "many"
c.yaml:7:15: rescue_after: 5s is too short; use at least 1m (a job whose daemon stopped marking it alive for this long is retried)`
	if err == nil || err.Error() != want {
		t.Fatalf("got\n%v\nwant\n%s", err, want)
	}
}

func TestLoadConfigReadsSecretFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "smtp.pw"), []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "c.yaml")
	os.WriteFile(path, []byte("sites: [{alias: dev, host: h}]\nsmtp: {host: mail.example.com, from: promoter@example.com, username: u, password_file: smtp.pw}\n"), 0o600)
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SMTP.PasswordFile != filepath.Join(dir, "smtp.pw") || !PolicyOptions(cfg, nil).Builtin["mail_enabled"].(bool) {
		t.Fatalf("smtp: %+v", cfg.SMTP)
	}
}

// The webhooks' names and the approvers file reach the policies as
// built-in keys; a relative url_file is the config folder's.
func TestConfigWebhooksAndApproversAreBuiltinKeys(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "teams.url"), []byte("https://example.com/hook\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "approvers.yaml"), []byte("90081726-8077-4A1B-8320-86986AC3E55C: [boss@example.com, 'CORP\\boss']\n"), 0o600)
	path := filepath.Join(dir, "c.yaml")
	os.WriteFile(path, []byte("sites: [{alias: dev, host: h}]\napprovers: approvers.yaml\nwebhooks:\n  - {name: chat, url_file: teams.url, format: teams}\n"), 0o600)
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Webhooks[0].URLFile != filepath.Join(dir, "teams.url") {
		t.Errorf("url_file %s", cfg.Webhooks[0].URLFile)
	}
	b := PolicyOptions(cfg, nil).Builtin
	if fmt.Sprint(b["webhooks"]) != "[chat]" || fmt.Sprint(b["approvers"]) != `map[90081726-8077-4a1b-8320-86986ac3e55c:[boss@example.com CORP\boss]]` {
		t.Errorf("builtin %v", b)
	}
	b = PolicyOptions(nil, []string{"test"}).Builtin
	if fmt.Sprint(b["webhooks"]) != "[]" || fmt.Sprint(b["approvers"]) != "map[]" {
		t.Errorf("builtin without a config %v", b)
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte("sites:\n  - alias: dev\n    host: h\n    watch: true\ncallback_url: http://x:5000\nvars: {a: 1}\n"))
	f.Add([]byte("sites: [{alias: dev, host: h}]\naudit: {keep: 3}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseConfig("f.yaml", data)
		if err == nil && len(cfg.Sites) == 0 {
			t.Fatal("a config without sites was accepted")
		}
	})
}

// A vars key that no policy declares is refused where serve builds the
// daemon, at its position in the configuration: `auto_unpublsh: false` must
// not leave the default true (unpublishing) silently in force.
func TestNewRefusesVarsThePoliciesDoNotDeclare(t *testing.T) {
	h := newHarness(t)
	shipped, err := filepath.Glob("../policies/*.yaml")
	if err != nil || len(shipped) == 0 {
		t.Fatalf("the shipped policies: %v", err)
	}
	policies := filepath.Join(h.dir, "policies")
	os.RemoveAll(policies)
	os.MkdirAll(policies, 0o755)
	for _, f := range shipped {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(policies, filepath.Base(f)), b, 0o644)
	}
	h.cfgExtra = "vars:\n  auto_unpublsh: false\n  publish_alerts: \"no\"\n"
	path := h.writeConfig()
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err) // the configuration alone is fine: vars are checked against the policies
	}
	_, err = New(cfg, WithLogger(slog.New(slog.DiscardHandler)))
	want := path + `:19:3: unknown key "auto_unpublsh" in vars; did you mean "auto_unpublish"? (known: alert_property, approval_property, auto_unpublish, auto_versioning, four_eyes, promote_on_reload, publish_alerts, reload_property, reload_tag, server_property, stream_property, unpublish_property, versioning, versioning_property, webhook_approved, webhook_denied, webhook_publish_alert, webhook_refused, webhook_results): vars sets only keys that a policy file declares under config:
` + path + `:20:19: vars.publish_alerts: want true or false (default true, declared at ` + filepath.Join(policies, "10-publish-alert.yaml") + `:20:19), got "no"`
	if err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
}
