package console_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/qs-promoter/qs-promoter/demo"
	"github.com/qs-promoter/qs-promoter/store"
)

// The console on the real daemon (as serve attaches it), against the
// demo's simulated sites and SMTP server: what the handler tests fake —
// the approvals read from QRS, the app search, a live dry-run, the site
// tests, the test e-mail, /status and the reload through the console
// listener, the audit records of it all — comes from the daemon here.
func TestConsoleOnTheDaemon(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	env, err := demo.Start(ctx, demo.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	jar, _ := cookiejar.New(nil)
	cl := &http.Client{Jar: jar}
	do := func(method, path string, form url.Values) (int, string) {
		t.Helper()
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, _ := http.NewRequestWithContext(ctx, method, env.Console+path, body)
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := do("GET", "/status", nil); code != http.StatusUnauthorized {
		t.Errorf("/status without a session: %d", code)
	}
	if code, body := do("POST", "/login", url.Values{"username": {env.ConsoleUser}, "password": {env.ConsolePassword}}); code != 200 || !strings.Contains(body, "Overview") {
		t.Fatalf("login: %d", code)
	}
	// The callback listener keeps only the callbacks and /healthz.
	for _, p := range []string{"/status", "/metrics", "/readyz"} {
		resp, err := http.Get(env.Callback + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s on the callback listener: %d", p, resp.StatusCode)
		}
	}
	for _, tt := range []struct {
		method, path string
		form         url.Values
		want         []string
	}{
		{"GET", "/status", nil, []string{`"alias": "prod"`, `"ready": true`}},
		{"GET", "/readyz", nil, []string{"ready"}},
		{"GET", "/metrics", nil, []string{"qsp_site_up", `qsp_console_logins_total{result="success"} 1`}},
		// Sales Dashboard is published to Review, a stream with the alert property.
		{"GET", "/approvals", nil, []string{"Sales Dashboard", "Review", "CORP\\sales_rep"}},
		{"GET", "/dry-run?site=dev&q=pipeline", nil, []string{"Sales Pipeline", "3b2c1f9e-7a44-4d0b-8f3e-2c9a1d5e7b21"}},
		{"POST", "/dry-run", url.Values{"site": {"dev"}, "app": {"3b2c1f9e-7a44-4d0b-8f3e-2c9a1d5e7b21"}, "kind": {"updated"}},
			[]string{"for app “Sales Pipeline”", "live, as updated", "- promote-approved: no match: "}},
		{"POST", "/settings/test-sites", url.Values{}, []string{"dev", "test", "prod", "QRS "}},
		{"POST", "/settings/test-mail", url.Values{"to": {"ops@example.com"}}, []string{"Sent a test message to ops@example.com through"}},
		{"POST", "/-/reload", nil, []string{"policies reloaded: revision "}},
	} {
		code, body := do(tt.method, tt.path, tt.form)
		if code != 200 {
			t.Errorf("%s %s: %d\n%s", tt.method, tt.path, code, body)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(body, w) {
				t.Errorf("%s %s lacks %q", tt.method, tt.path, w)
			}
		}
		if strings.Contains(body, "QRS") && strings.Contains(body, "failed") && tt.path == "/settings/test-sites" {
			t.Errorf("a site test failed:\n%s", body)
		}
	}
	var sent bool
	for _, m := range env.Mail.Messages() {
		sent = sent || (len(m.To) == 1 && m.To[0] == "ops@example.com" && strings.Contains(m.Text, "asked for by demo on the console"))
	}
	if !sent {
		t.Error("the test e-mail did not reach the SMTP server")
	}
	page, err := env.Daemon.AuditRecords(ctx, store.AuditQuery{Type: "console", Oldest: true})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, r := range page.Records {
		if r.User != env.ConsoleUser {
			t.Errorf("a console record of %q", r.User)
		}
		actions = append(actions, r.Action)
	}
	if got := strings.Join(actions, ","); got != "login,dry-run,test-mail,reload" {
		t.Errorf("console audit records: %s", got)
	}
}
