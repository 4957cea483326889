package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"maps"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/qs-promoter/qs-promoter/actions"
	"github.com/qs-promoter/qs-promoter/engine"
	"github.com/qs-promoter/qs-promoter/store"
)

// The daemon's side of the operator's console: the hook that attaches it,
// its listener, and the read-only view its pages read (the same data
// /status serves, and the store's queries). The console itself is package
// console; the daemon does not import it.

// ConsoleFunc builds the console's handler on the daemon being built
// (console.Attach). It runs at the end of New, with the store open.
type ConsoleFunc func(d *Daemon) (http.Handler, error)

// WithConsole attaches the console that serves on console.listen. A
// configuration with a console: section needs it.
func WithConsole(f ConsoleFunc) Option { return func(o *options) { o.console = f } }

// WithConsoleListener serves the console on ln instead of listening on
// console.listen (tests).
func WithConsoleListener(ln net.Listener) Option { return func(o *options) { o.consoleListener = ln } }

// startConsole builds the console and its listener (New).
func (d *Daemon) startConsole(o *options) (closer func() error, err error) {
	cc := d.cfg.Console
	if o.console == nil {
		return nil, errors.New("console: configured, but this program was built without the console (daemon.WithConsole)")
	}
	h, err := o.console(d)
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	d.consoleLn = o.consoleListener
	if d.consoleLn == nil {
		if d.consoleLn, err = net.Listen("tcp", cc.Listen); err != nil {
			return nil, fmt.Errorf("console: listen: %w", err)
		}
	}
	d.consoleSrv = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
		WriteTimeout: 5 * time.Minute, IdleTimeout: 2 * time.Minute} // an audit download may take minutes
	return d.consoleLn.Close, nil
}

// serveConsole serves the console until it is shut down.
func (d *Daemon) serveConsole() error {
	if t := d.cfg.Console.TLS; t != nil {
		return d.consoleSrv.ServeTLS(d.consoleLn, t.Cert, t.Key)
	}
	return d.consoleSrv.Serve(d.consoleLn)
}

// ConsoleURL is the console's base URL ("" without a console).
func (d *Daemon) ConsoleURL() string {
	if d.consoleLn == nil {
		return ""
	}
	scheme := "http"
	if d.cfg.Console.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + d.consoleLn.Addr().String()
}

// Config is the configuration the daemon runs with (read-only).
func (d *Daemon) Config() *Config { return d.cfg }

// Readiness lists what keeps the daemon from doing its job (/readyz).
func (d *Daemon) Readiness(ctx context.Context) []string { return d.readiness(ctx) }

// MetricsHandler serves the daemon's Prometheus metrics.
func (d *Daemon) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(d.metrics.reg, promhttp.HandlerOpts{})
}

// Registerer takes the metrics of what is attached to the daemon (the console's).
func (d *Daemon) Registerer() prometheus.Registerer { return d.metrics.reg }

// Policies returns the rule set in use.
func (d *Daemon) Policies() *engine.Ruleset { return d.rules.Current() }

// RecordAction keeps an operator's action (a console login, a reload, a
// dry-run, a test e-mail) as an audit record, in the audit file and the
// store, like an execution's.
func (d *Daemon) RecordAction(ctx context.Context, rec store.AuditRecord) error {
	if rec.Time.IsZero() {
		rec.Time = d.now().UTC()
	}
	if len(rec.Record) == 0 {
		rec.Record, _ = json.Marshal(rec)
	}
	d.writeAudit(json.RawMessage(rec.Record))
	return d.store.AppendAudit(ctx, rec)
}

// Executions returns one page of the executions q selects.
func (d *Daemon) Executions(ctx context.Context, q store.ExecutionQuery) (store.ExecutionPage, error) {
	return d.store.Executions(ctx, q)
}

// Execution reads one execution with its recorded event (nil: none).
func (d *Daemon) Execution(ctx context.Context, id string) (*store.Execution, error) {
	return d.store.Execution(ctx, id)
}

// ExecutionsPerDay counts executions by day and state since the given time.
func (d *Daemon) ExecutionsPerDay(ctx context.Context, since time.Time) ([]store.DayCount, error) {
	return d.store.ExecutionsPerDay(ctx, since)
}

// AuditRecords returns one page of the audit records q selects.
func (d *Daemon) AuditRecords(ctx context.Context, q store.AuditQuery) (store.AuditPage, error) {
	return d.store.AuditRecords(ctx, q)
}

// AllAuditRecords yields every audit record q selects, a page at a time.
func (d *Daemon) AllAuditRecords(ctx context.Context, q store.AuditQuery) iter.Seq2[store.AuditRecord, error] {
	return d.store.AllAuditRecords(ctx, q)
}

// Secret returns a secret kept in the store, made on first use (the
// console's session key when none is configured).
func (d *Daemon) Secret(ctx context.Context, name string) (string, error) {
	return d.store.Secret(ctx, name)
}

// Approvers returns the approvers file as loaded: stream ID → addresses
// and accounts (nil without one).
func (d *Daemon) Approvers() map[string][]string { return d.approvers }

// SiteCheck is one site's answer to a connection test.
type SiteCheck struct {
	Alias, Host string
	Port        int
	Version     string // QRS's build version
	Took        time.Duration
	Err         string
}

// TestSites calls GET /qrs/about on every site, read-only, as `check
// --connect` does, each within 15 seconds.
func (d *Daemon) TestSites(ctx context.Context) []SiteCheck {
	out := make([]SiteCheck, len(d.order))
	var wg sync.WaitGroup
	for i, s := range d.order {
		sc := d.cfg.Sites[i]
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
			defer cancel()
			start := time.Now()
			about, err := s.client.ReadOnly().About(ctx)
			out[i] = SiteCheck{Alias: s.alias, Host: s.host, Port: sc.Port, Took: time.Since(start).Round(time.Millisecond)}
			if err != nil {
				out[i].Err = err.Error()
				return
			}
			out[i].Version = about.BuildVersion
		})
	}
	wg.Wait()
	return out
}

// SendTestMail sends a test e-mail with the smtp: settings, as mailtest
// does, and returns the server it went through.
func (d *Daemon) SendTestMail(ctx context.Context, to, requestedBy string) (string, error) {
	if d.mailer == nil {
		return "", errors.New("no smtp: section in the configuration, so no e-mail can be sent")
	}
	hostname, _ := os.Hostname()
	err := d.mailer.Send(ctx, actions.Message{
		To:      []string{to},
		Subject: "qs-promoter test message",
		Text: fmt.Sprintf("This is a test message from qs-promoter on %s, sent at %s through %s, asked for by %s on the console.\n\n"+
			"If you can read it, the promoter's e-mail settings work.\n", hostname, d.now().Format(time.RFC1123Z), d.mailer.Addr(), requestedBy),
	})
	return d.mailer.Addr(), err
}

// Progress is the latest progress of a running execution's long steps: one
// line per step and site (an export, an upload to each target site).
type Progress struct {
	Step   string
	Detail string
	At     time.Time
}

// progressBoard keeps the latest progress of the executions running in
// this process, for the console's overview.
type progressBoard struct {
	mu sync.Mutex
	m  map[string]map[string]Progress // execution → step and site → latest
}

func (b *progressBoard) set(exec, step, detail string, at time.Time) {
	key := step
	if _, rest, ok := strings.Cut(detail, "site "); ok {
		if site, _, ok := strings.Cut(rest, ":"); ok && !strings.Contains(site, " ") {
			key += "/" + site
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil {
		b.m = map[string]map[string]Progress{}
	}
	if b.m[exec] == nil {
		b.m[exec] = map[string]Progress{}
	}
	b.m[exec][key] = Progress{Step: step, Detail: detail, At: at}
}

func (b *progressBoard) clear(exec string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.m, exec)
}

// Progress returns the latest progress lines of an execution running in
// this process, oldest first (none: nothing long has run yet, or another
// replica runs it).
func (d *Daemon) Progress(execID string) []Progress {
	d.progress.mu.Lock()
	defer d.progress.mu.Unlock()
	m := d.progress.m[execID]
	var out []Progress
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, m[k])
	}
	return out
}

// OpenStoreBeside opens the store the configuration names (SQLite in
// state_dir, or the replicas' PostgreSQL) for a command beside the running
// daemons: audit export, retry (store.Options.Beside).
func OpenStoreBeside(ctx context.Context, cfg *Config) (*store.Store, error) {
	return store.Open(ctx, store.Options{Driver: cfg.Store.Driver, URL: cfg.Store.url, Schema: cfg.Store.Schema, Dir: cfg.StateDir, Beside: true})
}
