// Package console is the operator's console: server-rendered pages for
// approvals, executions, policies, dry-runs, the audit and the settings,
// behind a login, with /status, /metrics, POST /-/reload and the probes on
// the same listener. It owns the pages, their templates and the security
// around them (sessions, cross-origin checks, roles, headers); it reads the
// daemon through Backend and owns no state but the session key.
package console

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"iter"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/qs-promoter/qs-promoter/daemon"
	"github.com/qs-promoter/qs-promoter/engine"
	"github.com/qs-promoter/qs-promoter/qrs"
	"github.com/qs-promoter/qs-promoter/store"
)

// Backend is what the console reads and asks of the daemon: its read-only
// view (what /status serves), the store's queries, and the few actions an
// operator may take. *daemon.Daemon is one.
type Backend interface {
	StatusContext(ctx context.Context) daemon.Status
	Readiness(ctx context.Context) []string
	Config() *daemon.Config
	Policies() *engine.Ruleset
	Approvers() map[string][]string
	Progress(executionID string) []daemon.Progress
	MetricsHandler() http.Handler
	Registerer() prometheus.Registerer

	Executions(ctx context.Context, q store.ExecutionQuery) (store.ExecutionPage, error)
	Execution(ctx context.Context, id string) (*store.Execution, error)
	ExecutionsPerDay(ctx context.Context, since time.Time) ([]store.DayCount, error)
	AuditRecords(ctx context.Context, q store.AuditQuery) (store.AuditPage, error)
	AllAuditRecords(ctx context.Context, q store.AuditQuery) iter.Seq2[store.AuditRecord, error]
	Secret(ctx context.Context, name string) (string, error)

	Approvals(ctx context.Context) ([]daemon.WaitingApp, error)
	SearchApps(ctx context.Context, site, text string, limit int) ([]qrs.App, error)
	LiveEvent(ctx context.Context, site, appID, kind string) (*engine.Event, error)
	DryRunEvent(ctx context.Context, ev *engine.Event, live bool) (*daemon.DryRun, error)
	TestSites(ctx context.Context) []daemon.SiteCheck
	SendTestMail(ctx context.Context, to, requestedBy string) (string, error)

	Reload() error
	RetryExecution(ctx context.Context, id, by string) (*store.Execution, error)
	RecordAction(ctx context.Context, rec store.AuditRecord) error
}

var _ Backend = (*daemon.Daemon)(nil)

// Options tune New (tests); the zero value is production's.
type Options struct {
	Log *slog.Logger
	// FailDelay is how long a wrong password is answered after (default
	// 1s): guessing is slow even before bcrypt's own cost.
	FailDelay time.Duration
	// SessionLifetime is how long a login lasts (default 12h).
	SessionLifetime time.Duration
	Now             func() time.Time
}

// Console serves the console's pages and endpoints.
type Console struct {
	b       Backend
	cfg     *daemon.ConsoleConfig
	log     *slog.Logger
	now     func() time.Time
	views   *views
	session *sessions
	metrics *consoleMetrics
	opts    Options
	handler http.Handler
}

// sessionSecret names the session key kept in the store when the
// configuration gives none.
const sessionSecret = "console-session-key"

// New builds the console on b, whose configuration has a console:
// section: it parses the templates once, and reads or makes the session key.
func New(b Backend, opts Options) (*Console, error) {
	cfg := b.Config().Console
	if cfg == nil {
		return nil, errors.New("the configuration has no console: section")
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.FailDelay == 0 {
		opts.FailDelay = time.Second
	}
	if opts.SessionLifetime == 0 {
		opts.SessionLifetime = 12 * time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	v, err := parseViews()
	if err != nil {
		return nil, err
	}
	key := cfg.SessionKey
	if key == "" {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if key, err = b.Secret(ctx, sessionSecret); err != nil {
			return nil, fmt.Errorf("the session key: %w", err)
		}
	}
	m, err := newConsoleMetrics(b.Registerer())
	if err != nil {
		return nil, err
	}
	c := &Console{b: b, cfg: cfg, log: opts.Log, now: opts.Now, views: v, metrics: m, opts: opts,
		session: newSessions(key, cfg.TLS != nil, opts.SessionLifetime, opts.Now)}
	c.handler = c.routes()
	return c, nil
}

// ServeHTTP serves the console.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) { c.handler.ServeHTTP(w, r) }

// Attach is the daemon option that serves the console on console.listen:
// daemon.New(cfg, console.Attach(console.Options{…})).
func Attach(opts Options) daemon.Option {
	return daemon.WithConsole(func(d *daemon.Daemon) (http.Handler, error) {
		if opts.Log == nil {
			opts.Log = slog.Default()
		}
		return New(d, opts)
	})
}

// staticFiles is the console's stylesheet and scripts (htmx, vendored, and
// the console's own), served under /static/.
func staticFiles() fs.FS {
	sub, err := fs.Sub(assets, "static")
	if err != nil {
		panic(err) // the embedded folder is there at build time
	}
	return sub
}
