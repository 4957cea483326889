package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
	if cfg.CoalesceWindow != 250*time.Millisecond || cfg.CatchupInterval != DefaultCatchupInterval || cfg.Workers != DefaultWorkers {
		t.Errorf("durations: %+v", cfg)
	}
	pc := cfg.PolicyConfig()
	if pc["auto_unpublish"] != false || pc["my_flag"] != 3 || pc["reload_tag"] != "PromoteOnReload" || pc["s3_enabled"] != false {
		t.Errorf("policy config: %v", pc)
	}
	if sites, _ := pc["sites"].([]string); strings.Join(sites, ",") != "dev,test" {
		t.Errorf("sites var: %v", pc["sites"])
	}
}

func TestParseConfigErrorsArePositioned(t *testing.T) {
	cases := []struct{ name, yaml, want string }{
		{"unknown key", "sites:\n  - alias: dev\n    host: h\n    hots: x\n", `c.yaml:4:5: unknown key "hots" in sites[0]`},
		{"password in file", "sites: [{alias: dev, host: h}]\nsmtp:\n  host: mail\n  password: hunter2\n", "c.yaml:4:3: smtp.password: secrets are never read from the config file"},
		{"bad duration", "sites: [{alias: dev, host: h}]\ncatchup_interval: often\n", "c.yaml:2:19: catchup_interval: want a duration such as 500ms, 30s or 5m, got \"often\""},
		{"bad port", "sites:\n  - alias: dev\n    host: h\n    port: 99999\n", "c.yaml:4:11: sites[0].port: 99999 is not a TCP port"},
		{"port type", "sites:\n  - alias: dev\n    host: h\n    port: abc\n", `c.yaml:4:11: sites[0].port: want a whole number, got "abc"`},
		{"duplicate alias", "sites:\n  - {alias: dev, host: h}\n  - {alias: DEV, host: h}\n", `c.yaml:3:13: sites[1].alias: "DEV" is used by another site`},
		{"missing host", "sites:\n  - alias: dev\n", "c.yaml:2:5: sites[0]: host is required"},
		{"watch needs callback", "sites:\n  - alias: dev\n    host: h\n    watch: true\n", "c.yaml:1:1: callback_url is required when a site is watched"},
		{"bad callback", "sites: [{alias: dev, host: h, watch: true}]\ncallback_url: promoter:5000\n", `c.yaml:2:15: callback_url: "promoter:5000" is not an http(s) URL`},
		{"yaml syntax", "sites:\n  - alias: dev\n   host: h\n", "c.yaml:2: YAML syntax: did not find expected '-' indicator (in the list or mapping that starts on this line)"},
		{"tab", "sites:\n  - alias: dev\n\thost: h\n", "c.yaml:3:1: YAML syntax: a tab in the indentation; indent with spaces only"},
		{"empty", "", "c.yaml:1:1: the config file is empty"},
		{"no sites", "user: x\n", "c.yaml:1:1: sites: list at least one site"},
		{"derived var", "sites: [{alias: dev, host: h}]\nvars:\n  sites: [a]\n", `c.yaml:3:3: vars: "sites" is set by the daemon itself`},
		{"var type", "sites: [{alias: dev, host: h}]\nvars:\n  auto_unpublish: \"no\"\n", "c.yaml:3:3: vars.auto_unpublish: want true or false"},
		{"smtp env missing", "sites: [{alias: dev, host: h}]\nsmtp: {host: mail, from: a@b.c, username: u, password_env: QSP_TEST_NOT_SET}\n", "c.yaml:2:1: smtp: password for u"},
		{"rescue too short", "sites: [{alias: dev, host: h}]\nrescue_after: 10s\n", "c.yaml:2:15: rescue_after: 10s is too short"},
	}
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
	_, err := ParseConfig("c.yaml", []byte("sites:\n  - alias: dev\n    hots: h\nlisten: [1]\nworkers: many\n"))
	if err == nil {
		t.Fatal("want errors")
	}
	if n := len(strings.Split(err.Error(), "\n")); n != 3 {
		t.Fatalf("want 3 problems, got %d:\n%v", n, err)
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
	if cfg.SMTP.PasswordFile != filepath.Join(dir, "smtp.pw") || !cfg.PolicyConfig()["mail_enabled"].(bool) {
		t.Fatalf("smtp: %+v", cfg.SMTP)
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
