package console

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/qs-promoter/qs-promoter/daemon"
	"github.com/qs-promoter/qs-promoter/engine"
	"github.com/qs-promoter/qs-promoter/qrs"
	"github.com/qs-promoter/qs-promoter/store"
)

// evil is an app name that would run script if a page printed it as is.
const evil = `<script>alert("x")</script> & Sales`

// seeded is a console whose store holds a few executions and their audit.
func seeded(t *testing.T) *testConsole {
	t.Helper()
	b := newFake(t)
	db := sqliteDB(t, b.cfg.StateDir)
	t0 := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	event, err := os.ReadFile("testdata/published-to-review.json")
	if err != nil {
		t.Fatal(err)
	}
	addExecution(t, db, execRow{ID: "20261130T090000.000Z-aaaa0001", Site: "dev", AppID: "3b2c1f9e-7a44-4d0b-8f3e-2c9a1d5e7b21", AppName: evil, State: "acted",
		Started: t0, Policies: []string{"alert-on-publish"}, Event: string(event), Summary: "matched: alert-on-publish"})
	addExecution(t, db, execRow{ID: "20261130T100000.000Z-aaaa0002", Site: "dev", AppID: "app-2", AppName: "Budget 2027", State: "failed",
		Started: t0.Add(time.Hour), Policies: []string{"promote-approved"}, Summary: "matched: promote-approved", Error: "promote failed on site test: 503"})
	addExecution(t, db, execRow{ID: "20261130T110000.000Z-aaaa0003", Site: "dev", AppID: "app-3", AppName: "Nightly KPIs", State: "running", Started: t0.Add(2 * time.Hour)})
	recs := []store.AuditRecord{
		{Time: t0, Type: "decision", ExecutionID: "20261130T090000.000Z-aaaa0001", Site: "dev", AppID: "3b2c1f9e-7a44-4d0b-8f3e-2c9a1d5e7b21", AppName: evil,
			Policies: []string{"alert-on-publish"}, Outcome: "acted", Record: []byte(`{"attempt":1,"outcome":"acted","kinds":["published"],"revision":"r1","duration_s":1.5,
			"policies":[{"name":"alert-on-publish","matched":true,"reason":"the event is published and when is true"},
			{"name":"promote-approved","matched":false,"reason":"when clause 2 of 6 is false: lower(first(props(app.properties, config.approval_property))) contains \"approve\""}]}`)},
		{Time: t0.Add(time.Second), Type: "step", Action: "email", ExecutionID: "20261130T090000.000Z-aaaa0001", Site: "dev", AppID: "3b2c1f9e-7a44-4d0b-8f3e-2c9a1d5e7b21",
			Policies: []string{"alert-on-publish"}, Outcome: "done", Record: []byte(`{"policy":"alert-on-publish","step":"alert","action":"email","status":"done",
			"summary":"sent 'Sales Dashboard' alert to 2 approvers","details":["to sales.manager@example.com"],"duration_s":0.25}`)},
		{Time: t0.Add(time.Hour), Type: "step", Action: "promote", ExecutionID: "20261130T100000.000Z-aaaa0002", Site: "dev", AppID: "app-2", AppName: "=HYPERLINK(\"x\")",
			Policies: []string{"promote-approved"}, Outcome: "failed", Record: []byte(`{"policy":"promote-approved","step":"promote","action":"promote","status":"failed",
			"error":"promote failed on site test: 503","duration_s":42,"params":{"targets":[{"site":"test","mode":"overwrite"}]}}`)},
	}
	if err := b.AppendAudit(context.Background(), recs...); err != nil {
		t.Fatal(err)
	}
	b.apps = []qrs.App{{ID: "3b2c1f9e-7a44-4d0b-8f3e-2c9a1d5e7b21", Name: "Sales Dashboard"}, {ID: "app-2", Name: "Budget 2027"}}
	ev, err := engine.ReadEvent(bytes.NewReader(event))
	if err != nil {
		t.Fatal(err)
	}
	b.live = ev
	b.waiting = []daemon.WaitingApp{{Site: "dev", App: qrs.App{ID: "w1", Name: evil, Owner: qrs.UserCondensed{UserDirectory: "CORP", UserID: "sales_rep", Name: "Sam Rep"}},
		Stream: "Sales Review", Alert: true, Targets: []string{"test - Overwrite"}, Since: t0}}
	return newTestConsole(t, b)
}

// pages are every page and endpoint that needs a session.
var pages = []string{"/", "/overview/running", "/approvals", "/executions", "/executions/20261130T090000.000Z-aaaa0001",
	"/executions/20261130T090000.000Z-aaaa0001/event.json", "/policies", "/dry-run", "/dry-run/apps?site=dev&q=s", "/audit", "/audit.csv", "/settings"}

// Without a session, a page sends the browser to the login (and back
// after it); the API endpoints and every POST answer 401.
func TestEveryRouteNeedsASession(t *testing.T) {
	tc := seeded(t)
	cl := tc.client()
	for _, p := range pages {
		a := tc.do(cl, "GET", p, nil, nil)
		if a.code != http.StatusSeeOther || a.header.Get("Location") != "/login?next="+url.QueryEscape(p) {
			t.Errorf("GET %s without a session: %d to %q", p, a.code, a.header.Get("Location"))
		}
	}
	for _, p := range []string{"/status", "/metrics"} {
		if a := tc.do(cl, "GET", p, nil, nil); a.code != http.StatusUnauthorized {
			t.Errorf("GET %s without a session: %d", p, a.code)
		}
	}
	for _, p := range []string{"/-/reload", "/policies/reload", "/dry-run", "/settings/test-mail", "/settings/test-sites", "/logout",
		"/executions/20261130T090000.000Z-aaaa0001/retry"} {
		if a := tc.do(cl, "POST", p, url.Values{}, nil); a.code != http.StatusUnauthorized {
			t.Errorf("POST %s without a session: %d", p, a.code)
		}
	}
	if tc.b.reloads != 0 {
		t.Errorf("%d reloads without a session", tc.b.reloads)
	}
	// An htmx poll gets 401 and where to go, not a login page in the table.
	if a := tc.do(cl, "GET", "/overview/running", nil, map[string]string{"HX-Request": "true"}); a.code != http.StatusUnauthorized || a.header.Get("HX-Redirect") != "/login" {
		t.Errorf("htmx without a session: %d %v", a.code, a.header)
	}
	// The probes and the static files need none.
	for _, p := range []string{"/healthz", "/readyz", "/static/htmx.min.js", "/static/console.js", "/static/console.css", "/login"} {
		if a := tc.do(cl, "GET", p, nil, nil); a.code != http.StatusOK {
			t.Errorf("GET %s: %d", p, a.code)
		}
	}
}

func TestLogin(t *testing.T) {
	tc := seeded(t)
	cl := tc.client()
	a := tc.do(cl, "GET", "/login?next=/audit", nil, nil)
	if a.code != 200 || !strings.Contains(a.body, `action="/login?next=%2faudit"`) || !strings.Contains(a.body, `name="password" type="password"`) {
		t.Fatalf("login page: %d\n%s", a.code, a.body)
	}
	if csp := a.header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP %q", csp)
	}
	if strings.Contains(a.body, "<script>") || strings.Contains(a.body, " style=") {
		t.Error("the login page has an inline script or style")
	}

	// Wrong passwords and unknown users: slow, counted, audited, no cookie.
	failures := func() float64 { return testutil.ToFloat64(tc.c.metrics.logins.WithLabelValues("failure")) }
	for _, form := range []url.Values{{"username": {"ann"}, "password": {"wrong"}}, {"username": {"nobody"}, "password": {annPass}}, {"username": {"ann"}, "password": {""}}} {
		start := time.Now()
		a := tc.do(cl, "POST", "/login?next=/audit", form, nil)
		if a.code != http.StatusUnauthorized || !strings.Contains(a.body, "Wrong user name or password.") || a.header.Get("Set-Cookie") != "" {
			t.Errorf("login %v: %d %v", form, a.code, a.header)
		}
		if took := time.Since(start); took < 20*time.Millisecond {
			t.Errorf("a wrong login was answered in %s, before the fail delay", took)
		}
	}
	if n := failures(); n != 3 {
		t.Errorf("qsp_console_logins_total{result=failure} = %v, want 3", n)
	}
	if a := tc.do(cl, "POST", "/login", url.Values{"username": {"ann"}, "password": {annPass}, "token": {"x"}}, nil); a.code != http.StatusBadRequest || !strings.Contains(a.body, `unexpected form field "token"`) {
		t.Errorf("a login with an extra field: %d %s", a.code, a.body)
	}

	// The right password: a strict, HttpOnly session cookie, and back to the page asked for.
	a = tc.do(cl, "POST", "/login?next=/audit", url.Values{"username": {"ann"}, "password": {annPass}}, nil)
	ck := a.header.Get("Set-Cookie")
	if a.code != http.StatusSeeOther || a.header.Get("Location") != "/audit" || !strings.Contains(ck, "qsp_session=") ||
		!strings.Contains(ck, "HttpOnly") || !strings.Contains(ck, "SameSite=Strict") || strings.Contains(ck, "Secure") {
		t.Fatalf("login: %d to %q, cookie %q", a.code, a.header.Get("Location"), ck)
	}
	if a := tc.do(cl, "GET", "/audit", nil, nil); a.code != 200 || !strings.Contains(a.body, "ann <small>(operator)</small>") {
		t.Errorf("audit page after the login: %d", a.code)
	}
	// Logins are audited, with the user's name.
	page, _ := tc.b.AuditRecords(context.Background(), store.AuditQuery{Type: "console", Action: "login"})
	if len(page.Records) != 4 || page.Records[0].User != "ann" || page.Records[0].Outcome != "success" || page.Records[1].User != "ann" || page.Records[1].Outcome != "failed" {
		t.Errorf("login audit records: %+v", page.Records)
	}
	// Never to another host after the login.
	for _, next := range []string{"//evil.example/", "https://evil.example/", `/\evil.example`} {
		a := tc.do(tc.client(), "POST", "/login?next="+url.QueryEscape(next), url.Values{"username": {"vic"}, "password": {annPass}}, nil)
		if a.header.Get("Location") != "/" {
			t.Errorf("next=%s: to %q", next, a.header.Get("Location"))
		}
	}

	// Logout ends the session in this browser.
	if a := tc.do(cl, "POST", "/logout", url.Values{}, nil); a.code != http.StatusSeeOther || !strings.Contains(a.header.Get("Set-Cookie"), "Max-Age=0") {
		t.Errorf("logout: %d %v", a.code, a.header)
	}
	if a := tc.do(cl, "GET", "/", nil, nil); a.code != http.StatusSeeOther {
		t.Errorf("after logout: %d", a.code)
	}
}

// A session is a signed cookie: another console with the same key (a
// restart, another replica) accepts it; a forged, expired or outdated one
// (the password changed, the user removed) is refused.
func TestSessions(t *testing.T) {
	tc := seeded(t)
	cl := tc.login("ann")
	u, _ := url.Parse(tc.srv.URL)
	cookie := cl.Jar.Cookies(u)[0]

	// Another console on the same store: the key kept there is the same.
	other := newTestConsole(t, tc.b)
	get := func(srv, value string) int {
		req, _ := http.NewRequest("GET", srv+"/settings", nil)
		req.AddCookie(&http.Cookie{Name: cookie.Name, Value: value})
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get(other.srv.URL, cookie.Value); code != 200 {
		t.Errorf("the session on another console sharing the store: %d", code)
	}
	payload, sig, _ := strings.Cut(cookie.Value, ".")
	forged := strings.Replace(payload, "A", "B", 1) + "." + sig
	for name, v := range map[string]string{"forged": forged, "no signature": payload, "garbage": "x.y", "empty": ""} {
		if code := get(tc.srv.URL, v); code != http.StatusSeeOther {
			t.Errorf("%s cookie: %d", name, code)
		}
	}
	// A console with another key refuses it.
	tc.b.cfg.Console.SessionKey = strings.Repeat("z", 40)
	keyed := newTestConsole(t, tc.b)
	if code := get(keyed.srv.URL, cookie.Value); code != http.StatusSeeOther {
		t.Errorf("a cookie signed with another key: %d", code)
	}
	tc.b.cfg.Console.SessionKey = ""
	// Expired.
	tc.advance(13 * time.Hour)
	if code := get(tc.srv.URL, cookie.Value); code != http.StatusSeeOther {
		t.Errorf("a cookie 13h old: %d", code)
	}
	tc.advance(-13 * time.Hour)
	// The password changed: the old sessions end.
	tc.b.cfg.Console.Users[0].PasswordHash = "$2a$04$abcdefghijklmnopqrstuuQ2kZ0x6K7l0n2wKq5yJc6l4b1z8O9aW"
	if code := get(tc.srv.URL, cookie.Value); code != http.StatusSeeOther {
		t.Errorf("a cookie from before the password changed: %d", code)
	}
}

// Cross-site POSTs are refused before anything else, logged in or not;
// a script without browser headers may post.
func TestCrossOriginPostsAreRefused(t *testing.T) {
	tc := seeded(t)
	cl := tc.login("ann")
	for _, h := range []map[string]string{
		{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
		{"Sec-Fetch-Site": "same-site", "Origin": "https://other.example.com"},
		{"Sec-Fetch-Site": "", "Origin": "https://evil.example"},
	} {
		for _, p := range []string{"/-/reload", "/policies/reload", "/logout", "/settings/test-mail", "/dry-run"} {
			if a := tc.do(cl, "POST", p, url.Values{"to": {"a@b.c"}}, h); a.code != http.StatusForbidden || !strings.Contains(a.body, "cross-origin request refused") {
				t.Errorf("POST %s with %v: %d %s", p, h, a.code, a.body)
			}
		}
		if a := tc.do(tc.client(), "POST", "/login", url.Values{"username": {"ann"}, "password": {annPass}}, h); a.code != http.StatusForbidden {
			t.Errorf("a cross-site login with %v: %d", h, a.code)
		}
	}
	if tc.b.reloads != 0 || len(tc.b.mails) != 0 {
		t.Errorf("cross-site posts acted: %d reloads, mails %v", tc.b.reloads, tc.b.mails)
	}
	// A script (no Origin, no Sec-Fetch-Site) logs in and reloads.
	script := tc.client()
	if a := tc.do(script, "POST", "/login", url.Values{"username": {"ann"}, "password": {annPass}}, map[string]string{"Origin": "", "Sec-Fetch-Site": ""}); a.code != http.StatusSeeOther {
		t.Fatalf("a script's login: %d", a.code)
	}
	if a := tc.do(script, "POST", "/-/reload", nil, map[string]string{"Origin": "", "Sec-Fetch-Site": ""}); a.code != 200 || !strings.HasPrefix(a.body, "policies reloaded: revision ") {
		t.Errorf("a script's reload: %d %s", a.code, a.body)
	}
}

// A viewer sees every page but changes nothing.
func TestViewerCannotAct(t *testing.T) {
	tc := seeded(t)
	cl := tc.login("vic")
	for _, p := range pages {
		if a := tc.do(cl, "GET", p, nil, nil); a.code != 200 {
			t.Errorf("viewer GET %s: %d", p, a.code)
		}
	}
	for _, p := range []string{"/-/reload", "/policies/reload", "/dry-run", "/settings/test-mail", "/executions/20261130T090000.000Z-aaaa0001/retry"} {
		a := tc.do(cl, "POST", p, url.Values{"to": {"a@b.c"}, "event": {"{}"}}, nil)
		if a.code != http.StatusForbidden || !strings.Contains(a.body, "vic is a viewer") {
			t.Errorf("viewer POST %s: %d %s", p, a.code, a.body)
		}
	}
	if tc.b.reloads != 0 || len(tc.b.mails) != 0 {
		t.Errorf("a viewer acted: %d reloads, mails %v", tc.b.reloads, tc.b.mails)
	}
	// The buttons are not offered.
	for p, button := range map[string]string{"/policies": "Reload the policies", "/executions/20261130T090000.000Z-aaaa0001": "Dry-run it against", "/settings": `name="to"`} {
		if a := tc.do(cl, "GET", p, nil, nil); strings.Contains(a.body, button) {
			t.Errorf("%s offers a viewer %q", p, button)
		}
	}
	// Testing the connections reads only: a viewer may.
	if a := tc.do(cl, "POST", "/settings/test-sites", url.Values{}, nil); a.code != 200 || !strings.Contains(a.body, "QRS 14.254.6") {
		t.Errorf("viewer tests the sites: %d", a.code)
	}
}

// Every page renders what it is for, escaping what users wrote.
func TestPages(t *testing.T) {
	tc := seeded(t)
	cl := tc.login("ann")
	for _, tt := range []struct {
		path string
		want []string
	}{
		{"/", []string{"Ready", "qlik-dev.example.com", "connection refused", "Running now", "Nightly KPIs", "uploaded 16.0 MiB of 48.0 MiB",
			"Replicas", "<code>a-1</code>", ">leader<", "(this one)", "differs from the leader", "replica b-1 runs policy revision r2, the leader r1",
			"Waiting for another attempt", "waiting for a site that is down", "1 of 10", "site test is down",
			"Executions per day by outcome", `class="o-acted"`, "Promotion time per target site", "test: median 42s, longest 42s, 1 promotions, 1 failed"}},
		{"/overview/running", []string{`id="running"`, `hx-trigger="every 3s"`, "Nightly KPIs", "available 2"}},
		{"/approvals", []string{"&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Sales", "Sales Review", "test - Overwrite", "CORP\\sales_rep", "alert-on-publish"}},
		{"/executions", []string{"Budget 2027", "promote failed on site test: 503", "&lt;script&gt;", "promote-approved"}},
		{"/executions?state=failed", []string{"Budget 2027", "<option selected>failed"}},
		{"/executions?app=kpi", []string{"Nightly KPIs"}},
		{"/executions?policy=alert-on-publish&site=dev", []string{"&lt;script&gt;"}},
		{"/executions/20261130T090000.000Z-aaaa0001", []string{"Attempt 1: acted", "when clause 2 of 6 is false", "alert-on-publish / alert", "to sales.manager@example.com",
			"event.json", "Dry-run it against the current policies", "Sales Review"}},
		{"/executions/20261130T090000.000Z-aaaa0001/event.json", []string{`"name": "Sales Review"`}},
		{"/policies", []string{"30-approval.yaml", "promote-approved", "Promote an approved app", "on <code>updated, reconciled</code>", "Reload the policies"}},
		{"/dry-run", []string{"A live app", "A recorded event", `hx-get="/dry-run/apps"`}},
		{"/dry-run?site=dev&q=budget", []string{"Budget 2027", `name="app" value="app-2"`}},
		{"/dry-run/apps?site=dev&q=sales", []string{`<div id="apps">`, "Sales Dashboard"}},
		{"/dry-run/apps?site=test&q=x", []string{"site test does not answer"}},
		{"/audit", []string{"Download as CSV", "email", "promote"}},
		{"/audit?user=nobody", []string{"No audit record matches."}},
		{"/settings", []string{"qlik-dev.example.com:4242", "smtp password", "not set", "console user vic", "viewer", "console metrics token",
			"set (environment variable QSP_TEST_METRICS_TOKEN)", "kept in the store", "sales.manager@example.com"}},
	} {
		a := tc.do(cl, "GET", tt.path, nil, nil)
		if a.code != 200 {
			t.Errorf("GET %s: %d %s", tt.path, a.code, a.body)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(a.body, w) {
				t.Errorf("GET %s lacks %q", tt.path, w)
			}
		}
		if strings.Contains(a.body, evil) {
			t.Errorf("GET %s prints an app name unescaped", tt.path)
		}
		if strings.Contains(a.body, "metrics-token-0123456789") {
			t.Errorf("GET %s shows the metrics token", tt.path)
		}
	}
	for _, tt := range []struct {
		path string
		code int
		want string
	}{
		{"/executions/nope", 404, "no such execution"},
		{"/executions/nope/event.json", 404, "no such execution"},
		{"/executions/20261130T100000.000Z-aaaa0002/event.json", 404, "recorded no event"},
		{"/audit?since=yesterday", 400, `since: &#34;yesterday&#34; is not a day (YYYY-MM-DD)`},
	} {
		if a := tc.do(cl, "GET", tt.path, nil, nil); a.code != tt.code || !strings.Contains(a.body, tt.want) {
			t.Errorf("GET %s: %d %s", tt.path, a.code, a.body)
		}
	}
	// /status and /metrics for scripts.
	if a := tc.do(cl, "GET", "/status", nil, nil); a.code != 200 || !strings.Contains(a.body, `"alias": "dev"`) || a.header.Get("Content-Type") != "application/json" {
		t.Errorf("/status: %d %s", a.code, a.body)
	}
	if a := tc.do(cl, "GET", "/metrics", nil, nil); a.code != 200 || !strings.Contains(a.body, `qsp_console_logins_total{result="success"} 1`) {
		t.Errorf("/metrics with a session: %d", a.code)
	}
	bare := tc.client()
	if a := tc.do(bare, "GET", "/metrics", nil, map[string]string{"Authorization": "Bearer metrics-token-0123456789"}); a.code != 200 || !strings.Contains(a.body, `qsp_console_logins_total{result="failure"} 0`) {
		t.Errorf("/metrics with the token: %d", a.code)
	}
	if a := tc.do(bare, "GET", "/metrics", nil, map[string]string{"Authorization": "Bearer wrong"}); a.code != http.StatusUnauthorized {
		t.Errorf("/metrics with a wrong token: %d", a.code)
	}
}

// Reloads, from the page and from a script, say how they went and are
// audited with the user's name.
func TestReload(t *testing.T) {
	tc := seeded(t)
	cl := tc.login("ann")
	if a := tc.do(cl, "POST", "/policies/reload", url.Values{}, nil); a.code != 200 || !strings.Contains(a.body, "Reloaded: revision ") {
		t.Errorf("reload button: %d %s", a.code, a.body)
	}
	tc.b.reloadErr = errors.New("/etc/qs/policies/30-bad.yaml:4:11: unknown fact app.nmae; did you mean app.name?")
	a := tc.do(cl, "POST", "/policies/reload", url.Values{}, nil)
	if a.code != 200 || !strings.Contains(a.body, "Reload failed; the previous policies stay in force.") || !strings.Contains(a.body, "30-bad.yaml:4:11: unknown fact app.nmae") {
		t.Errorf("failed reload on the page: %d %s", a.code, a.body)
	}
	if a := tc.do(cl, "POST", "/-/reload", nil, nil); a.code != 500 || !strings.Contains(a.body, "30-bad.yaml:4:11") {
		t.Errorf("failed reload from a script: %d %s", a.code, a.body)
	}
	page, _ := tc.b.AuditRecords(context.Background(), store.AuditQuery{Action: "reload"})
	if len(page.Records) != 3 || page.Records[0].User != "ann" || page.Records[0].Outcome != "failed" || page.Records[2].Outcome != "success" ||
		!strings.Contains(string(page.Records[0].Record), "30-bad.yaml") {
		t.Errorf("reload audit records: %+v", page.Records)
	}
}

// A dry-run from the page: the same report as the CLI's, e-mail previews
// included, from a pasted event, an uploaded one, an execution's, or a
// live app; each audited.
func TestDryRun(t *testing.T) {
	tc := seeded(t)
	cl := tc.login("ann")
	event, _ := os.ReadFile("testdata/published-to-review.json")
	check := func(name string, a answer) {
		t.Helper()
		for _, w := range []string{"event: <strong>published", "</strong> on site dev for app “Sales Pipeline”", "+ alert-on-publish: MATCH",
			"- promote-approved: no match: ", "preview", "<dt>subject</dt>", "sales.manager@example.com", "policies: "} {
			if !strings.Contains(a.body, w) {
				t.Errorf("%s: the report lacks %q", name, w)
			}
		}
		if a.code != 200 {
			t.Errorf("%s: %d", name, a.code)
		}
	}
	check("pasted", tc.do(cl, "POST", "/dry-run", url.Values{"event": {string(event)}}, nil))
	check("execution", tc.do(cl, "POST", "/dry-run", url.Values{"execution": {"20261130T090000.000Z-aaaa0001"}}, nil))
	live := tc.do(cl, "POST", "/dry-run", url.Values{"site": {"dev"}, "app": {"3b2c1f9e-7a44-4d0b-8f3e-2c9a1d5e7b21"}, "kind": {"published"}}, nil)
	check("live", live)
	if !strings.Contains(live.body, "live, as published") {
		t.Error("the live report does not say it is live")
	}

	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("event_file", "event.json")
	fw.Write(event)
	mw.Close()
	check("uploaded", tc.do(cl, "POST", "/dry-run", nil, map[string]string{"Content-Type": mw.FormDataContentType()}).withBody(t, tc, cl, &body, mw.FormDataContentType()))

	for name, form := range map[string]url.Values{
		"nothing":      {},
		"bad JSON":     {"event": {`{"site": "dev", "app": `}},
		"unknown app":  {"site": {"dev"}, "app": {"nope"}},
		"no event":     {"execution": {"20261130T100000.000Z-aaaa0002"}},
		"unknown kind": {"event": {`{"site":"dev","kind":"exploded","app":{"id":"a","name":"n"}}`}},
	} {
		a := tc.do(cl, "POST", "/dry-run", form, nil)
		if a.code != http.StatusUnprocessableEntity || !strings.Contains(a.body, `class="problem"`) {
			t.Errorf("dry-run of %s: %d", name, a.code)
		}
	}
	page, _ := tc.b.AuditRecords(context.Background(), store.AuditQuery{Action: "dry-run", Oldest: true})
	if len(page.Records) != 9 || page.Records[0].User != "ann" || page.Records[0].Outcome != "success" || page.Records[0].AppName != "Sales Pipeline" {
		t.Errorf("dry-run audit records: %d %+v", len(page.Records), page.Records[:1])
	}
}

// withBody resends a request with a raw body (multipart uploads).
func (a answer) withBody(t *testing.T, tc *testConsole, cl *http.Client, body *bytes.Buffer, contentType string) answer {
	t.Helper()
	req, _ := http.NewRequest("POST", tc.srv.URL+"/dry-run", body)
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return answer{resp.StatusCode, b.String(), resp.Header}
}

// An operator retries a failed execution from its page or by script
// (POST /-/retry/{id}); one that did not fail, or does not exist, is
// refused with its reason; every attempt is audited with the user's name.
func TestRetry(t *testing.T) {
	tc := seeded(t)
	cl := tc.login("ann")
	if a := tc.do(cl, "GET", "/executions/20261130T100000.000Z-aaaa0002", nil, nil); !strings.Contains(a.body, "Retry now") {
		t.Errorf("a failed execution's page has no retry button:\n%s", a.body)
	}
	if a := tc.do(cl, "GET", "/executions/20261130T090000.000Z-aaaa0001", nil, nil); strings.Contains(a.body, "Retry now") {
		t.Error("an execution that acted offers a retry")
	}
	a := tc.do(cl, "POST", "/executions/20261130T100000.000Z-aaaa0002/retry", url.Values{}, nil)
	if a.code != http.StatusAccepted || !strings.Contains(a.body, "Retry asked for") {
		t.Errorf("retry: %d %s", a.code, a.body)
	}
	if a := tc.do(cl, "POST", "/executions/20261130T090000.000Z-aaaa0001/retry", url.Values{}, nil); a.code != http.StatusConflict || !strings.Contains(a.body, "Not retried: execution 20261130T090000.000Z-aaaa0001 ended acted") {
		t.Errorf("retry of an execution that acted: %d %s", a.code, a.body)
	}
	if a := tc.do(cl, "POST", "/-/retry/20261130T100000.000Z-aaaa0002", url.Values{}, nil); a.code != http.StatusAccepted || !strings.Contains(a.body, "is queued again") {
		t.Errorf("POST /-/retry: %d %s", a.code, a.body)
	}
	if a := tc.do(cl, "POST", "/-/retry/20260101T000000.000Z-00000000", url.Values{}, nil); a.code != http.StatusNotFound {
		t.Errorf("POST /-/retry of an unknown execution: %d %s", a.code, a.body)
	}
	if got := strings.Join(tc.b.retried, "; "); got != "20261130T100000.000Z-aaaa0002 by ann; 20261130T100000.000Z-aaaa0002 by ann" {
		t.Errorf("retried: %s", got)
	}
	page, _ := tc.b.AuditRecords(context.Background(), store.AuditQuery{Action: "retry"})
	if len(page.Records) != 4 {
		t.Fatalf("retry audit records: %+v", page.Records)
	}
	for _, r := range page.Records {
		if r.User != "ann" {
			t.Errorf("retry audit record without the user: %+v", r)
		}
	}
}

func TestSettingsButtons(t *testing.T) {
	tc := seeded(t)
	cl := tc.login("ann")
	a := tc.do(cl, "POST", "/settings/test-sites", url.Values{}, map[string]string{"HX-Request": "true"})
	if a.code != 200 || !strings.HasPrefix(a.body, `<div id="checks">`) || !strings.Contains(a.body, "site test: connection refused") || strings.Contains(a.body, "<html") {
		t.Errorf("test sites (htmx): %d %s", a.code, a.body)
	}
	if a := tc.do(cl, "POST", "/settings/test-mail", url.Values{"to": {"ops@example.com"}}, nil); a.code != 200 || !strings.Contains(a.body, "Sent a test message to ops@example.com through mail.example.com:25.") {
		t.Errorf("test mail: %d %s", a.code, a.body)
	}
	if a := tc.do(cl, "POST", "/settings/test-mail", url.Values{"to": {"fail@example.com"}}, nil); a.code != http.StatusBadGateway || !strings.Contains(a.body, "550 mailbox unavailable") {
		t.Errorf("failed test mail: %d %s", a.code, a.body)
	}
	if a := tc.do(cl, "POST", "/settings/test-mail", url.Values{"to": {"not an address"}}, nil); a.code != http.StatusBadRequest {
		t.Errorf("test mail to no address: %d", a.code)
	}
	if len(tc.b.mails) != 1 || tc.b.mails[0] != "ops@example.com by ann" {
		t.Errorf("mails %v", tc.b.mails)
	}
	page, _ := tc.b.AuditRecords(context.Background(), store.AuditQuery{Action: "test-mail"})
	if len(page.Records) != 2 || page.Records[1].User != "ann" {
		t.Errorf("test-mail audit: %+v", page.Records)
	}
}

// The CSV download is the search's records, oldest first, with a header,
// and no cell a spreadsheet would run as a formula.
func TestAuditCSV(t *testing.T) {
	tc := seeded(t)
	cl := tc.login("ann")
	a := tc.do(cl, "GET", "/audit.csv?type=step", nil, nil)
	if a.code != 200 || a.header.Get("Content-Type") != "text/csv; charset=utf-8" || !strings.Contains(a.header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("csv: %d %v", a.code, a.header)
	}
	rows, err := csv.NewReader(strings.NewReader(a.body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 || strings.Join(rows[0], ",") != "id,time,type,action,outcome,site,app_id,app_name,user,policies,execution_id,record" {
		t.Fatalf("csv rows: %q", rows)
	}
	if rows[1][3] != "email" || rows[2][3] != "promote" || rows[2][7] != `'=HYPERLINK("x")` || !strings.HasPrefix(rows[2][11], `{"policy":"promote-approved"`) {
		t.Errorf("csv rows: %q", rows[1:])
	}
	if a := tc.do(cl, "GET", "/audit.csv?policy=alert-on-publish&since=2026-11-30&until=2026-11-30", nil, nil); strings.Count(a.body, "\n") != 3 {
		t.Errorf("filtered csv:\n%s", a.body)
	}
}

// The templates are parsed once, at New; every view is there.
func TestViewsParsedOnce(t *testing.T) {
	v, err := parseViews()
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(filepath.Join("templates", "views"))
	if len(v.pages) != len(entries) || len(entries) < 10 {
		t.Errorf("%d views parsed of %d files", len(v.pages), len(entries))
	}
	_ = fmt.Sprint
}
