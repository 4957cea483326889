package console

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/qs-promoter/qs-promoter/daemon"
	"github.com/qs-promoter/qs-promoter/engine"
	"github.com/qs-promoter/qs-promoter/qrs"
	"github.com/qs-promoter/qs-promoter/store"
	"github.com/qs-promoter/qs-promoter/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

// Bcrypt hashes (cost 4) for the test users.
const (
	annHash = "$2a$04$Y17RespN40DEFb6FjiY1XenU0omxb49vIPklbwipVBOGq/B1sfNbG" // "correct horse"
	annPass = "correct horse"
)

// fakeBackend is the daemon as the console sees it: a real store (its
// queries are what the pages read), the shipped policies, and canned
// answers for what would call the sites or send mail.
type fakeBackend struct {
	*store.Store
	cfg       *daemon.Config
	reg       *prometheus.Registry
	mu        sync.Mutex
	rs        *engine.Ruleset
	reloadErr error
	reloads   int
	mails     []string
	apps      []qrs.App
	waiting   []daemon.WaitingApp
	live      *engine.Event
	retried   []string // "id by user"
}

// RetryExecution refuses as the daemon does (unknown, not failed) and
// records what it would queue again.
func (f *fakeBackend) RetryExecution(ctx context.Context, id, by string) (*store.Execution, error) {
	e, err := f.Execution(ctx, id)
	switch {
	case err != nil:
		return nil, err
	case e == nil:
		return nil, store.ErrNoExecution
	case e.State != store.StateFailed:
		return nil, &store.NotFailedError{ID: id, State: e.State}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.retried = append(f.retried, id+" by "+by)
	return e, nil
}

var _ Backend = (*fakeBackend)(nil)

func (f *fakeBackend) StatusContext(context.Context) daemon.Status {
	return daemon.Status{Ready: true, Sites: []daemon.SiteStatus{{Alias: "dev", Host: "qlik-dev.example.com", Watch: true, Up: true},
		{Alias: "test", Host: "qlik-test.example.com", Up: false, LastError: "connection refused"}},
		Policies: daemon.RulesStatus{Revision: f.Policies().Revision, OK: f.reloadErr == nil, LastError: errText(f.reloadErr), Files: f.Policies().Files},
		Queue:    map[string]int{"available": 2},
		Store:    "postgres", Replica: "b-1", Leader: "a-1",
		Replicas: []daemon.ReplicaStatus{
			{Replica: store.Replica{ID: "a-1", CallbackURL: "http://a:5000", Revision: "r1"}, Leader: true, Alive: true},
			{Replica: store.Replica{ID: "b-1", CallbackURL: "http://b:5000", Revision: "r2"}, This: true, Alive: true, RevisionDiffers: true}},
		Warnings: []string{"replica b-1 runs policy revision r2, the leader r1"},
		Waiting: []store.WaitingExecution{{ID: "20261130T100000.000Z-aaaa0002", Site: "dev", AppID: "app-2", AppName: "Budget 2027",
			State: store.StateWaiting, Attempts: 1, MaxAttempts: 10, LastError: "site test is down"}}}
}
func (f *fakeBackend) Readiness(context.Context) []string { return nil }
func (f *fakeBackend) Config() *daemon.Config             { return f.cfg }
func (f *fakeBackend) Policies() *engine.Ruleset {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rs
}
func (f *fakeBackend) Approvers() map[string][]string {
	return map[string][]string{"90081726-8077-4a1b-8320-86986ac3e55c": {"sales.manager@example.com"}}
}
func (f *fakeBackend) Progress(string) []daemon.Progress {
	return []daemon.Progress{{Step: "promote-approved/promote", Detail: "promote: site test: uploaded 16.0 MiB of 48.0 MiB"}}
}
func (f *fakeBackend) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(f.reg, promhttp.HandlerOpts{})
}
func (f *fakeBackend) Registerer() prometheus.Registerer                      { return f.reg }
func (f *fakeBackend) Approvals(context.Context) ([]daemon.WaitingApp, error) { return f.waiting, nil }
func (f *fakeBackend) SearchApps(_ context.Context, site, text string, _ int) ([]qrs.App, error) {
	if site != "dev" {
		return nil, errors.New("site " + site + " does not answer")
	}
	var out []qrs.App
	for _, a := range f.apps {
		if strings.Contains(strings.ToLower(a.Name), strings.ToLower(text)) {
			out = append(out, a)
		}
	}
	return out, nil
}
func (f *fakeBackend) LiveEvent(_ context.Context, site, appID, kind string) (*engine.Event, error) {
	if f.live == nil || appID != f.live.App.ID {
		return nil, errors.New("app " + appID + " does not exist on site " + site)
	}
	ev := *f.live
	ev.Kind = kind
	return &ev, nil
}
func (f *fakeBackend) DryRunEvent(ctx context.Context, ev *engine.Event, live bool) (*daemon.DryRun, error) {
	acts, err := daemon.DryRunActions(f.cfg, nil)
	if err != nil {
		return nil, err
	}
	rs := f.Policies()
	facts, err := engine.NewFacts(ev, rs.Config())
	if err != nil {
		return nil, err
	}
	rep, err := rs.Execute(ctx, facts, acts, engine.ExecOptions{ExecutionID: "dry-run", DryRun: true})
	return &daemon.DryRun{Ruleset: rs, Facts: facts, Report: rep}, err
}
func (f *fakeBackend) TestSites(context.Context) []daemon.SiteCheck {
	return []daemon.SiteCheck{{Alias: "dev", Host: "qlik-dev.example.com", Port: 4242, Version: "14.254.6"},
		{Alias: "test", Host: "qlik-test.example.com", Port: 4242, Err: "site test: connection refused"}}
}
func (f *fakeBackend) SendTestMail(_ context.Context, to, by string) (string, error) {
	if strings.HasPrefix(to, "fail") {
		return "", errors.New("smtp: 550 mailbox unavailable")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mails = append(f.mails, to+" by "+by)
	return "mail.example.com:25", nil
}
func (f *fakeBackend) Reload() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reloads++
	return f.reloadErr
}
func (f *fakeBackend) RecordAction(ctx context.Context, rec store.AuditRecord) error {
	return f.AppendAudit(ctx, rec)
}

// consoleConfig is the test configuration: ann (operator) and vic (viewer).
func testConfig(t testing.TB, dir string) *daemon.Config {
	t.Helper()
	for _, name := range []string{"approvers.csv"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("QSP_TEST_METRICS_TOKEN", "metrics-token-0123456789")
	cfg, err := daemon.ParseConfig(filepath.Join(dir, "qs-promoter.yaml"), []byte(`sites:
  - {alias: dev, host: qlik-dev.example.com, watch: true}
  - {alias: test, host: qlik-test.example.com}
  - {alias: prod, host: qlik-prod.example.com}
callback_url: http://promoter.example.com:5000
approvers: approvers.csv
smtp: {host: mail.example.com, port: 25, tls: none, from: promoter@example.com}
console:
  users:
    - {name: ann, password_hash: "`+annHash+`"}
    - {name: vic, password_hash: "`+annHash+`", role: viewer}
  metrics_token_env: QSP_TEST_METRICS_TOKEN
`))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// newFake builds a fake backend on a fresh SQLite store.
func newFake(t testing.TB) *fakeBackend {
	t.Helper()
	return newFakeOn(t, func(cfg *daemon.Config) store.Options { return store.Options{Dir: cfg.StateDir} })
}

// newFakeOn builds a fake backend on the store the options open.
func newFakeOn(t testing.TB, opts func(*daemon.Config) store.Options) *fakeBackend {
	t.Helper()
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	st, err := store.Open(context.Background(), opts(cfg))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	rs, err := engine.Load("../policies", daemon.PolicyOptions(cfg, nil))
	if err != nil {
		t.Fatal(err)
	}
	return &fakeBackend{Store: st, cfg: cfg, reg: prometheus.NewRegistry(), rs: rs}
}

// testConsole is a console on a fake backend, served by httptest.
type testConsole struct {
	t   testing.TB
	b   *fakeBackend
	c   *Console
	srv *httptest.Server
	now time.Time
	mu  sync.Mutex
}

// newTestConsole serves a console on b (or on as, a Backend wrapping b).
func newTestConsole(t testing.TB, b *fakeBackend, as ...Backend) *testConsole {
	t.Helper()
	tc := &testConsole{t: t, b: b, now: time.Now().UTC()}
	var backend Backend = b
	if len(as) > 0 {
		backend = as[0]
	}
	c, err := New(backend, Options{FailDelay: 20 * time.Millisecond, Now: tc.clock})
	if err != nil {
		t.Fatal(err)
	}
	tc.c = c
	tc.srv = httptest.NewServer(c)
	t.Cleanup(tc.srv.Close)
	return tc
}

func (tc *testConsole) clock() time.Time {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	return tc.now
}

func (tc *testConsole) advance(d time.Duration) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	tc.now = tc.now.Add(d)
}

// client is a browser: it keeps cookies and does not follow redirects.
func (tc *testConsole) client() *http.Client {
	jar := newJar()
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// login logs user in and returns the client holding the session.
func (tc *testConsole) login(user string) *http.Client {
	tc.t.Helper()
	cl := tc.client()
	resp := tc.do(cl, "POST", "/login", url.Values{"username": {user}, "password": {annPass}}, nil)
	if resp.code != http.StatusSeeOther {
		tc.t.Fatalf("login as %s: %d %s", user, resp.code, resp.body)
	}
	return cl
}

type answer struct {
	code   int
	body   string
	header http.Header
}

// do sends a request as the console's own pages would (same origin).
func (tc *testConsole) do(cl *http.Client, method, path string, form url.Values, header map[string]string) answer {
	tc.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, tc.srv.URL+path, body)
	if err != nil {
		tc.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if method == http.MethodPost {
		req.Header.Set("Origin", tc.srv.URL)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	for k, v := range header {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := cl.Do(req)
	if err != nil {
		tc.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, string(b), resp.Header}
}

// newJar is a cookie jar for one test browser.
func newJar() http.CookieJar {
	j, _ := cookiejar.New(nil)
	return j
}
