package daemon

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qs-promoter/qs-promoter/qrs"
	"github.com/qs-promoter/qs-promoter/qrs/qrssim"
	"github.com/qs-promoter/qs-promoter/store"
)

// harness runs the daemon in-process against simulated dev (watched) and
// test sites, over real TLS sockets and real HTTP callbacks.
type harness struct {
	t        testing.TB
	sim      *qrssim.Sim
	dev      *qrssim.Site
	test     *qrssim.Site
	prod     *qrssim.Site
	dir      string // config folder: qs-promoter.yaml, policies/, data/
	port     int    // the daemon's port, kept across restarts
	human    *qrs.Client
	cfgExtra string
	callback string // callback_url; "": the daemon's own address
	// storeOpts, when set, adjusts the store's options (onPostgres).
	storeOpts func(*store.Options)
	// prepare, when set, is called with the daemon before it runs.
	prepare func(*Daemon)
	opts    []Option // more options of New

	d      *Daemon
	cancel context.CancelFunc
	done   chan error

	mu      sync.Mutex
	reports []ExecutionReport
}

const humanUser = "UserDirectory=CORP;UserId=sales_manager"

func newHarness(t testing.TB, simOpts ...func(*qrssim.SiteOptions)) *harness {
	t.Helper()
	devOpts := qrssim.SiteOptions{Alias: "dev", Seed: qrssim.DefaultSeed("dev")}
	for _, f := range simOpts {
		f(&devOpts)
	}
	return newHarnessOn(t, []qrssim.SiteOptions{devOpts, {Alias: "test", Seed: qrssim.DefaultSeed("test")}})
}

// newHarnessWithProd is newHarness with a second target site, prod.
func newHarnessWithProd(t testing.TB) *harness {
	t.Helper()
	return newHarnessOn(t, []qrssim.SiteOptions{{Alias: "dev", Seed: qrssim.DefaultSeed("dev")},
		{Alias: "test", Seed: qrssim.DefaultSeed("test")}, {Alias: "prod", Seed: qrssim.DefaultSeed("prod")}})
}

func newHarnessOn(t testing.TB, sites []qrssim.SiteOptions) *harness {
	t.Helper()
	sim, err := qrssim.Start(qrssim.Options{Sites: sites})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	h := &harness{t: t, sim: sim, dev: sim.Site("dev"), test: sim.Site("test"), prod: sim.Site("prod"), dir: t.TempDir(), port: freePort(t)}
	hc := h.dev.ClientConfig()
	hc.User = humanUser
	if h.human, err = qrs.NewClient(hc); err != nil {
		t.Fatal(err)
	}
	copyDir(t, "testdata/policies", filepath.Join(h.dir, "policies"))
	return h
}

func freePort(t testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func copyDir(t testing.TB, from, to string) {
	t.Helper()
	if err := os.MkdirAll(to, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// configYAML is the daemon's configuration for the simulator; extra keys
// are appended.
func (h *harness) configYAML() string {
	callback := h.callback
	if callback == "" {
		callback = fmt.Sprintf("http://127.0.0.1:%d", h.port)
	}
	prod := ""
	if h.prod != nil {
		prod = fmt.Sprintf("  - alias: prod\n    host: localhost\n    port: %d\n    certs: %s\n", h.prod.Port(), h.prod.CertDir())
	}
	return fmt.Sprintf(`sites:
  - alias: dev
    host: localhost
    port: %d
    certs: %s
    watch: true
  - alias: test
    host: localhost
    port: %d
    certs: %s
%slisten: 127.0.0.1:%d
callback_url: %s
policies: policies
state_dir: data
coalesce_window: 200ms
health_interval: 100ms
workers: 4
%s`, h.dev.Port(), h.dev.CertDir(), h.test.Port(), h.test.CertDir(), prod, h.port, callback, h.cfgExtra)
}

func (h *harness) writeConfig() string {
	path := filepath.Join(h.dir, "qs-promoter.yaml")
	if err := os.WriteFile(path, []byte(h.configYAML()), 0o644); err != nil {
		h.t.Fatal(err)
	}
	return path
}

// start builds and runs the daemon, and waits until dev is subscribed.
func (h *harness) start() {
	h.t.Helper()
	cfg, err := LoadConfig(h.writeConfig())
	if err != nil {
		h.t.Fatal(err)
	}
	h.run(cfg)
}

// run builds and runs the daemon on cfg, and waits until its first site
// (watched) is subscribed.
func (h *harness) run(cfg *Config) {
	h.t.Helper()
	log := slog.New(slog.NewTextHandler(testWriter{h.t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	d, err := New(cfg, append([]Option{WithLogger(log), WithPollInterval(100 * time.Millisecond), withStore(h.storeOpts), OnExecution(func(r ExecutionReport) {
		h.mu.Lock()
		h.reports = append(h.reports, r)
		h.mu.Unlock()
	})}, h.opts...)...)
	if err != nil {
		h.t.Fatal(err)
	}
	if h.prepare != nil {
		h.prepare(d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.d, h.cancel, h.done = d, cancel, make(chan error, 1)
	go func() { h.done <- d.Run(ctx) }()
	h.t.Cleanup(h.stop)
	waitFor(h.t, 10*time.Second, "dev subscribed", func() bool { return len(h.d.Status().Sites[0].Subscriptions) == len(subscriptions) })
}

// stop shuts the daemon down gracefully (idempotent).
func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel = nil
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Errorf("daemon stopped with %v", err)
		}
	case <-time.After(20 * time.Second):
		h.t.Error("daemon did not stop within 20s")
	}
}

// testWriter sends logs to t.Log, and nowhere once the test is over.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	defer func() { _ = recover() }() // a log line after the test ended
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// reportsFor returns the execution reports of an app so far.
func (h *harness) reportsFor(appID string) []ExecutionReport {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []ExecutionReport
	for _, r := range h.reports {
		if r.AppID == appID {
			out = append(out, r)
		}
	}
	return out
}

func countOutcome(rs []ExecutionReport, outcome string) int {
	n := 0
	for _, r := range rs {
		if r.Outcome == outcome {
			n++
		}
	}
	return n
}

// settle waits until no execution has happened for quiet (and the queue
// is empty), so that "it did not loop" can be asserted.
func (h *harness) settle(quiet time.Duration) {
	h.t.Helper()
	last, lastAt := -1, time.Now()
	waitFor(h.t, 20*time.Second, "the daemon to settle", func() bool {
		h.mu.Lock()
		n := len(h.reports)
		h.mu.Unlock()
		if n != last {
			last, lastAt = n, time.Now()
			return false
		}
		depth, _ := h.d.store.QueueDepth(context.Background())
		busy := 0
		for _, v := range depth {
			busy += v
		}
		return busy == 0 && time.Since(lastAt) >= quiet
	})
}

// appByName finds a dev app by name.
func appByName(t testing.TB, s *qrssim.Site, name string) qrs.App {
	t.Helper()
	for _, a := range s.Apps() {
		if a.Name == name {
			return a
		}
	}
	t.Fatalf("no app %q on %s", name, s.Alias())
	return qrs.App{}
}

// setProps sets custom properties of a dev app as a human would in the QMC.
func (h *harness) setProps(appID string, props map[string][]string) {
	h.t.Helper()
	ctx := context.Background()
	defs, err := h.human.CustomPropertyDefinitions(ctx, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	byName := map[string]qrs.CustomPropertyDefinition{}
	for _, d := range defs {
		byName[strings.ToLower(d.Name)] = d
	}
	_, err = h.human.UpdateApp(ctx, appID, func(a *qrs.App) error {
		for name, values := range props {
			def, ok := byName[strings.ToLower(name)]
			if !ok {
				return fmt.Errorf("no custom property %s", name)
			}
			var kept []qrs.CustomPropertyValue
			for _, cp := range a.CustomProperties {
				if !strings.EqualFold(cp.Definition.Name, name) {
					kept = append(kept, cp)
				}
			}
			for _, v := range values {
				kept = append(kept, qrs.CustomPropertyValue{Value: v, Definition: qrs.CustomPropertyDefinitionCondensed{ID: def.ID, Name: def.Name}})
			}
			a.CustomProperties = kept
		}
		return nil
	})
	if err != nil {
		h.t.Fatal(err)
	}
}

// post sends a callback to the daemon.
func (h *harness) post(path string, body []byte) (int, string) {
	h.t.Helper()
	resp, err := http.Post(fmt.Sprintf("http://127.0.0.1:%d%s", h.port, path), "application/json", bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (h *harness) callbackPath(alias string) string {
	s := h.d.sites[alias]
	return "/callback/" + alias + "/" + s.token
}

// appsNamed lists a site's apps with a name, in a stream ("" any).
func appsNamed(s *qrssim.Site, name, stream string) []qrs.App {
	var out []qrs.App
	for _, a := range s.Apps() {
		if a.Name == name && (stream == "" || (a.Stream != nil && a.Stream.Name == stream)) {
			out = append(out, a)
		}
	}
	return out
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
