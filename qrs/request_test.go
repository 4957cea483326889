package qrs_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qs-promoter/qs-promoter/qrs"
)

// recorder keeps what a test server was sent.
type recorder struct {
	mu   sync.Mutex
	reqs []*http.Request
}

func (r *recorder) add(req *http.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, req)
}

func (r *recorder) all() []*http.Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*http.Request(nil), r.reqs...)
}

// newTestClient starts a mutual-TLS server with h and returns a client for it.
func newTestClient(t *testing.T, h http.HandlerFunc, mod func(*qrs.SiteConfig)) (*qrs.Client, *recorder) {
	t.Helper()
	ca := newCA(t, "site CA")
	rec := &recorder{}
	srv := tlsServer(t, ca, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.add(r)
		h(w, r)
	}))
	cfg := siteFor(srv, "dev", ca.writeClientCerts(t, ecKey))
	cfg.Log = slog.New(slog.DiscardHandler)
	if mod != nil {
		mod(&cfg)
	}
	c, err := qrs.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c, rec
}

func TestXrfkeyAndUser(t *testing.T) {
	for _, tc := range []struct{ user, want string }{
		{"", qrs.DefaultUser},
		{`CORP\svc_promoter`, "UserDirectory=CORP;UserId=svc_promoter"},
		{"UserDirectory=X;UserId=y", "UserDirectory=X;UserId=y"},
	} {
		c, rec := newTestClient(t, aboutHandler().ServeHTTP, func(c *qrs.SiteConfig) { c.User = tc.user })
		ctx := context.Background()
		for range 3 {
			if _, err := c.About(ctx); err != nil {
				t.Fatal(err)
			}
		}
		seen := map[string]bool{}
		keyRE := regexp.MustCompile(`^[0-9a-zA-Z]{16}$`)
		for _, r := range rec.all() {
			key := r.URL.Query().Get("xrfkey")
			if !keyRE.MatchString(key) || r.Header.Get("X-Qlik-Xrfkey") != key {
				t.Errorf("query xrfkey %q, header %q", key, r.Header.Get("X-Qlik-Xrfkey"))
			}
			if seen[key] {
				t.Errorf("xrfkey %q reused", key)
			}
			seen[key] = true
			if got := r.Header.Get("X-Qlik-User"); got != tc.want {
				t.Errorf("X-Qlik-User %q, want %q", got, tc.want)
			}
		}
	}
}

func TestErrorsAndRetries(t *testing.T) {
	var fails atomic.Int32
	c, rec := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/qrs/app/full": // looking for a copy the failed POST made: none
			io.WriteString(w, "[]")
		case strings.HasPrefix(r.URL.Path, "/qrs/app/missing"):
			http.Error(w, strings.Repeat("x", 5000), http.StatusNotFound)
		case fails.Add(-1) >= 0:
			w.WriteHeader(http.StatusServiceUnavailable)
		case r.Method == http.MethodPost:
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, `{"id":"c0ffee00-0000-4000-8000-000000000001","name":"copy"}`)
		default:
			io.WriteString(w, `{"id":"c0ffee00-0000-4000-8000-000000000001","name":"a"}`)
		}
	}, func(c *qrs.SiteConfig) { c.MaxAttempts = 3 })
	ctx := context.Background()

	_, err := c.App(ctx, "missing")
	var qe *qrs.Error
	if !errors.As(err, &qe) || !qrs.IsNotFound(err) || qrs.IsConflict(err) || qrs.IsRetryable(err) {
		t.Fatalf("error %#v", err)
	}
	if qe.Site != "dev" || qe.Method != "GET" || qe.Path != "/qrs/app/missing" || len(qe.Body) > 1100 {
		t.Errorf("error fields: site %q method %q path %q body %d bytes", qe.Site, qe.Method, qe.Path, len(qe.Body))
	}
	if strings.Contains(err.Error(), "xrfkey") {
		t.Errorf("error shows the xrfkey: %v", err)
	}

	// Two 503s, then an answer: a GET succeeds on its third attempt.
	n := len(rec.all())
	fails.Store(2)
	if _, err := c.App(ctx, "c0ffee00-0000-4000-8000-000000000001"); err != nil {
		t.Fatalf("GET after two 503s: %v", err)
	}
	if got := len(rec.all()) - n; got != 3 {
		t.Errorf("%d attempts, want 3", got)
	}

	// Three 503s exhaust the attempts.
	n = len(rec.all())
	fails.Store(3)
	_, err = c.App(ctx, "c0ffee00-0000-4000-8000-000000000001")
	if !qrs.IsRetryable(err) || statusOf(err) != 503 {
		t.Fatalf("error %v, want the last 503", err)
	}
	if got := len(rec.all()) - n; got != 3 {
		t.Errorf("%d attempts, want 3", got)
	}

	// A copy is repeated only after looking for the copy the failed attempt
	// may have made: list, POST (503), list, POST.
	n = len(rec.all())
	fails.Store(1)
	if _, err := c.CopyApp(ctx, "c0ffee00-0000-4000-8000-000000000001", "copy"); err != nil {
		t.Fatalf("copy after a 503: %v", err)
	}
	var calls []string
	for _, r := range rec.all()[n:] {
		calls = append(calls, r.Method+" "+r.URL.Path)
	}
	if want := []string{"GET /qrs/app/full", "POST /qrs/app/c0ffee00-0000-4000-8000-000000000001/copy",
		"GET /qrs/app/full", "POST /qrs/app/c0ffee00-0000-4000-8000-000000000001/copy"}; !slices.Equal(calls, want) {
		t.Errorf("calls %q, want %q", calls, want)
	}
	fails.Store(0)
}

func statusOf(err error) int {
	var e *qrs.Error
	if errors.As(err, &e) {
		return e.Status
	}
	return -1
}

func TestRetryRespectsContext(t *testing.T) {
	c, rec := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "5")
		w.WriteHeader(http.StatusServiceUnavailable)
	}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.About(ctx)
	if statusOf(err) != 503 {
		t.Fatalf("error %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("returned after %s: the backoff ignored the context", d)
	}
	if n := len(rec.all()); n != 1 {
		t.Errorf("%d attempts within a Retry-After of 5s, want 1", n)
	}
}

func TestResponseTimeout(t *testing.T) {
	release := make(chan struct{})
	c, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}, func(c *qrs.SiteConfig) { c.ResponseTimeout = 100 * time.Millisecond; c.MaxAttempts = 1 })
	defer close(release)
	_, err := c.About(context.Background())
	if err == nil || !strings.Contains(err.Error(), "response timeout") {
		t.Fatalf("error %v, want a response timeout", err)
	}
}

func TestReadOnlyAndObserve(t *testing.T) {
	type obs struct {
		method, route string
		status        int
	}
	var mu sync.Mutex
	var seen []obs
	c, rec := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"id":"c0ffee00-0000-4000-8000-000000000001"}`)
	}, func(c *qrs.SiteConfig) {
		c.Observe = func(site, method, route string, status int, d time.Duration) {
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, obs{method, route, status})
		}
	})
	ro := c.ReadOnly()
	ctx := context.Background()
	if _, err := ro.App(ctx, "c0ffee00-0000-4000-8000-000000000001"); err != nil {
		t.Fatalf("read-only GET: %v", err)
	}
	writes := map[string]error{}
	writes["delete"] = ro.DeleteApp(ctx, "c0ffee00-0000-4000-8000-000000000001")
	_, writes["copy"] = ro.CopyApp(ctx, "c0ffee00-0000-4000-8000-000000000001", "x")
	_, writes["export"] = ro.ExportApp(ctx, "c0ffee00-0000-4000-8000-000000000001", false)
	_, writes["upload"] = ro.UploadApp(ctx, "x", true, strings.NewReader("qvf"), 3)
	_, writes["update"] = ro.UpdateApp(ctx, "c0ffee00-0000-4000-8000-000000000001", func(a *qrs.App) error { a.Name = "changed"; return nil })
	_, writes["subscribe"] = ro.Subscribe(ctx, qrs.Subscription{Name: "App", URL: "http://127.0.0.1:1/cb"})
	for name, err := range writes {
		if !errors.Is(err, qrs.ErrReadOnly) {
			t.Errorf("%s on a read-only client: %v", name, err)
		}
	}
	for _, r := range rec.all() {
		if r.Method != http.MethodGet {
			t.Errorf("read-only client sent %s %s", r.Method, r.URL.Path)
		}
	}
	if c.IsReadOnly() || !ro.IsReadOnly() {
		t.Error("IsReadOnly")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) == 0 || seen[0] != (obs{"GET", "/qrs/app/{id}", 200}) {
		t.Errorf("observed %v", seen)
	}
}

func TestPathsCannotBeInjected(t *testing.T) {
	c, rec := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "not found", http.StatusNotFound)
	}, nil)
	_, _ = c.App(context.Background(), "../about?x=1#")
	r := rec.all()[0]
	if r.URL.Path != "/qrs/app/../about?x=1#" || r.URL.Query().Get("x") != "" {
		t.Errorf("path %q query %q", r.URL.Path, r.URL.RawQuery)
	}
}

func TestUserByEmailFallsBackToListing(t *testing.T) {
	c, rec := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("filter") {
			http.Error(w, "Cannot parse the expression: attributes.attributeValue", http.StatusBadRequest)
			return
		}
		io.WriteString(w, `[{"id":"1","userId":"a","attributes":[{"attributeType":"Email","attributeValue":"A@Example.com "}]},
			{"id":"2","userId":"b","attributes":[{"attributeType":"name","attributeValue":"a@example.com"}]},
			{"id":"3","userId":"c","attributes":[]}]`)
	}, nil)
	us, err := c.UserByEmail(context.Background(), "a@example.COM")
	if err != nil || len(us) != 1 || us[0].UserID != "a" {
		t.Fatalf("users %+v, %v", us, err)
	}
	if n := len(rec.all()); n != 2 {
		t.Errorf("%d requests, want a filtered one then a full list", n)
	}
}
