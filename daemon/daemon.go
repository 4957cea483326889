package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/qs-promoter/qs-promoter/actions"
	"github.com/qs-promoter/qs-promoter/engine"
	"github.com/qs-promoter/qs-promoter/qrs"
	"github.com/qs-promoter/qs-promoter/store"
)

// Daemon is `qs-promoter serve`: build it with New, run it with Run.
type Daemon struct {
	cfg      *Config
	log      *slog.Logger
	now      func() time.Time
	store    *store.Store
	sites    map[string]*site // by alias
	order    []*site          // configuration order
	rules    *policyRules
	acts     map[string]engine.Action
	audit    *auditLog
	metrics  *metrics
	ln       net.Listener
	srv      *http.Server
	locks    appLocks
	ownUser  string // the service user as QRS writes it in modifiedByUserName, lower case
	started  time.Time
	instance string // random ID of this process, on /healthz (see checkCallbackURL)
	callback callbackCheck
	mail     *actions.Mailer // nil without smtp: (the admin's failure notices)
	waits    waits           // executions waiting for a site to come back

	replica     string        // this replica's ID among those sharing the database (newReplicaID)
	lead        leadership    // whether it leads
	db          dbHealth      // whether it reaches the database
	leaseTTL    time.Duration // the leader lease's time to live; app leases' too
	rescueAfter time.Duration // the store's: a job silent this long is taken back

	// The console (console.go): its listener and server (nil without one),
	// and what its pages read beyond /status.
	consoleLn  net.Listener
	consoleSrv *http.Server
	mailer     *actions.Mailer
	approvers  map[string][]string
	progress   progressBoard

	hooks []func(ExecutionReport) // set by New, read-only after
	ready []func()                // called once Run serves
}

// Option customises New (for tests, the demo and embedding).
type Option func(*options)

type options struct {
	log          *slog.Logger
	listener     net.Listener
	now          func() time.Time
	pollInterval time.Duration
	hooks        []func(ExecutionReport)
	storeOpts    func(*store.Options) // tests: adjust the database options after the configuration's
	leaseTTL     time.Duration
	ready        []func()

	console         ConsoleFunc
	consoleListener net.Listener
}

// WithLogger sets the logger (default: slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithListener serves on ln instead of listening on Config.Listen.
func WithListener(ln net.Listener) Option { return func(o *options) { o.listener = ln } }

// WithPollInterval sets how often idle workers look for queued work
// (default: the coalescing window, within 100ms to 1s).
func WithPollInterval(d time.Duration) Option { return func(o *options) { o.pollInterval = d } }

// withStore adjusts the store's options (tests run the daemon on
// PostgreSQL with it).
func withStore(f func(*store.Options)) Option { return func(o *options) { o.storeOpts = f } }

// withLeaseTTL sets the leader lease's time to live (tests: a fast failover).
func withLeaseTTL(d time.Duration) Option { return func(o *options) { o.leaseTTL = d } }

// OnExecution registers a hook called after every execution attempt.
func OnExecution(f func(ExecutionReport)) Option {
	return func(o *options) { o.hooks = append(o.hooks, f) }
}

// OnReady registers f, called once by Run when the listener serves and the
// store has started: a service manager's "ready" (systemd, the Windows SCM).
func OnReady(f func()) Option {
	return func(o *options) { o.ready = append(o.ready, f) }
}

// New builds the daemon: site clients, actions, policies (a bad policy set
// is an error here), the audit log, the state store and the listener. Run
// starts it. On error everything opened is closed.
func New(cfg *Config, opts ...Option) (d *Daemon, err error) {
	var o options
	for _, f := range opts {
		f(&o)
	}
	if o.log == nil {
		o.log = slog.Default()
	}
	var storeNow func() time.Time // nil: leases run on the database's clock
	if o.now == nil {
		o.now = time.Now
	} else {
		storeNow = o.now
	}
	if o.leaseTTL <= 0 {
		o.leaseTTL = DefaultLeaderTTL
	}
	d = &Daemon{cfg: cfg, log: o.log, now: o.now, sites: map[string]*site{}, metrics: newMetrics(),
		ownUser: accountName(cfg.User), hooks: o.hooks, ready: o.ready, started: o.now(), instance: newInstanceID(), leaseTTL: o.leaseTTL}
	d.replica = newReplicaID(d.instance)
	var closers []func() error
	defer func() {
		if err != nil {
			for i := len(closers) - 1; i >= 0; i-- {
				_ = closers[i]()
			}
		}
	}()

	clients := map[string]*qrs.Client{}
	for i, sc := range cfg.Sites {
		qc := cfg.QRSConfig(sc)
		qc.Log = d.log // the client names the site in every line
		qc.Observe = d.metrics.observeQRS
		qc.Moved = d.metrics.movedApp
		c, err := qrs.NewClient(qc)
		if err != nil {
			return nil, cfg.SiteError(i, err)
		}
		clients[sc.Alias] = c
		s := &site{alias: sc.Alias, host: sc.Host, watch: sc.Watch, client: c, kick: make(chan struct{}, 1)}
		d.sites[sc.Alias] = s
		d.order = append(d.order, s)
	}

	if err := os.MkdirAll(cfg.StateDir, 0o750); err != nil {
		return nil, fmt.Errorf("state_dir: %w", err)
	}
	deps := actions.Deps{Sites: clients, Log: d.log, TempDir: filepath.Join(cfg.StateDir, "tmp"),
		Transfers: actions.NewTransfers(cfg.TransferLimits())}
	if err := os.MkdirAll(deps.TempDir, 0o750); err != nil {
		return nil, fmt.Errorf("state_dir: %w", err)
	}
	if cfg.SMTP != nil {
		if deps.Mail, err = actions.NewMailer(*cfg.SMTP); err != nil {
			return nil, err
		}
		d.mailer = deps.Mail
	}
	if cfg.S3 != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		deps.S3, err = actions.NewS3Store(ctx, *cfg.S3)
		cancel()
		if err != nil {
			return nil, err
		}
	}
	if cfg.Approvers != "" {
		if deps.Approvers, err = actions.LoadApprovers(cfg.Approvers); err != nil {
			return nil, err
		}
		d.approvers = deps.Approvers
	}
	for _, wc := range cfg.Webhooks {
		w, err := actions.NewWebhook(wc)
		if err != nil {
			return nil, fmt.Errorf("webhooks: %w", err)
		}
		if w.Insecure() {
			d.log.Warn("webhook uses http://: its messages and URL cross the network unencrypted; use https:// unless it is an internal relay", "webhook", w.Name())
		}
		deps.Webhooks = append(deps.Webhooks, w)
	}
	d.acts = actions.New(deps)
	d.mail = deps.Mail

	d.rules, err = newPolicyRules(cfg.Policies, PolicyOptions(cfg, nil), d.log.With("component", "policies"), d.metrics.reloaded)
	if err != nil {
		return nil, err // every problem at its file:line:col, the policy folder's own errors name it
	}

	d.audit, err = openAudit(filepath.Join(cfg.StateDir, "audit"), int64(cfg.Audit.MaxSizeMB)<<20, cfg.Audit.Keep)
	if err != nil {
		return nil, err
	}
	closers = append(closers, d.audit.Close)

	if o.pollInterval == 0 {
		// Workers only need to notice a job before its coalescing window
		// ends (it waits that long anyway); polling more often costs SQLite
		// work that competes with intake.
		o.pollInterval = min(max(cfg.CoalesceWindow, 100*time.Millisecond), time.Second)
	}
	so := store.Options{
		Driver: cfg.Store.Driver, URL: cfg.Store.url, Schema: cfg.Store.Schema,
		Dir: cfg.StateDir, Workers: cfg.Workers, RescueAfter: cfg.RescueAfter, MaxAttempts: cfg.MaxAttempts,
		PollInterval: o.pollInterval, Work: d.work, Log: d.log.With("component", "store"), Now: storeNow,
	}
	if o.storeOpts != nil {
		o.storeOpts(&so)
	}
	d.rescueAfter = so.RescueAfter
	d.store, err = store.Open(context.Background(), so)
	if err != nil {
		return nil, err
	}
	closers = append(closers, d.store.Close)
	d.metrics.queueDepthFunc = d.store.QueueDepth
	d.metrics.waitingFunc = d.store.WaitingExecutions
	for _, s := range d.order {
		if s.watch {
			if s.token, err = d.store.SiteToken(context.Background(), s.alias); err != nil {
				return nil, err
			}
		}
	}

	d.ln = o.listener
	if d.ln == nil {
		if d.ln, err = net.Listen("tcp", cfg.Listen); err != nil {
			return nil, fmt.Errorf("listen: %w", err)
		}
	}
	closers = append(closers, d.ln.Close)
	d.srv = &http.Server{Handler: d.routes(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 2 * time.Minute}
	if cfg.Console != nil {
		closeConsole, err := d.startConsole(&o)
		if err != nil {
			return nil, err
		}
		closers = append(closers, closeConsole)
	}
	return d, nil
}

// Addr returns the listener's address (host:port).
func (d *Daemon) Addr() string { return d.ln.Addr().String() }

// Reload loads the policies again; on error the previous set stays.
func (d *Daemon) Reload() error { return d.rules.Reload() }

// Run serves until ctx ends, then shuts down gracefully within the drain
// timeout: it unsubscribes, finishes the callbacks in flight, lets running
// executions finish (interrupted ones resume at the next start) and closes
// the store.
func (d *Daemon) Run(ctx context.Context) error {
	if err := d.store.Start(context.Background()); err != nil {
		return fmt.Errorf("start the queue: %w", err)
	}
	bg, stopBG := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	serveErr := make(chan error, 2)
	go func() {
		if err := d.srv.Serve(d.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			serveErr <- err
		}
	}()
	if d.consoleSrv != nil {
		go func() {
			if err := d.serveConsole(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				serveErr <- fmt.Errorf("console: %w", err)
			}
		}()
		d.log.Info("console serving", "url", d.ConsoleURL(), "users", len(d.cfg.Console.Users))
	}
	d.log.Info("serving", "listen", d.Addr(), "policies", d.cfg.Policies, "state_dir", d.cfg.StateDir, "sites", len(d.order),
		"store", d.store.Driver(), "replica", d.replica)
	for _, f := range d.ready {
		f()
	}
	wg.Go(func() { d.rules.Watch(bg) })
	wg.Go(func() { d.keepReplica(bg) })
	wg.Go(func() { d.elect(bg) }) // the leader's work (sites, catch-up, rescue) runs under it
	wg.Go(func() { d.pruneLoop(bg) })
	if d.cfg.CallbackURL != "" {
		wg.Go(func() { d.keepCheckingCallback(bg) })
	}

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-serveErr:
		d.log.Error("listener failed", "err", runErr)
	}
	d.log.Info("shutting down", "drain_timeout", d.cfg.DrainTimeout)
	dctx, cancel := context.WithTimeout(context.Background(), d.cfg.DrainTimeout)
	defer cancel()
	stopBG()
	wg.Wait() // a leader unsubscribes and gives up its lease meanwhile
	if err := d.store.RemoveReplica(dctx, d.replica); err != nil {
		d.log.Warn("could not remove this replica from the list; it is forgotten once silent for long", "err", err)
	}
	if err := d.srv.Shutdown(dctx); err != nil {
		d.log.Warn("callbacks still in flight at the drain deadline", "err", err)
	}
	if d.consoleSrv != nil {
		if err := d.consoleSrv.Shutdown(dctx); err != nil {
			d.log.Warn("console requests still in flight at the drain deadline", "err", err)
		}
	}
	if err := d.store.Drain(dctx); err != nil {
		d.log.Warn("executions still running at the drain deadline; they resume at the next start", "err", err)
	}
	err := errors.Join(runErr, d.store.Close(), d.audit.Close())
	d.log.Info("stopped")
	return err
}

// appLocks serialises executions per app: one app never has two at once.
type appLocks struct {
	mu sync.Mutex
	m  map[string]*appLock
}

type appLock struct {
	ch   chan struct{}
	refs int
}

func (l *appLocks) lock(ctx context.Context, key string) (func(), error) {
	l.mu.Lock()
	if l.m == nil {
		l.m = map[string]*appLock{}
	}
	al := l.m[key]
	if al == nil {
		al = &appLock{ch: make(chan struct{}, 1)}
		l.m[key] = al
	}
	al.refs++
	l.mu.Unlock()
	release := func() {
		l.mu.Lock()
		al.refs--
		if al.refs == 0 {
			delete(l.m, key)
		}
		l.mu.Unlock()
	}
	select {
	case al.ch <- struct{}{}:
		return func() { <-al.ch; release() }, nil
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
}

// accountName turns an X-Qlik-User value ("UserDirectory=INTERNAL;
// UserId=sa_api" or "INTERNAL\sa_api") into QRS's modifiedByUserName form,
// lower case, for comparisons.
func accountName(user string) string {
	if strings.Contains(user, "=") {
		var dir, id string
		for _, part := range strings.Split(user, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
			switch strings.ToLower(strings.TrimSpace(k)) {
			case "userdirectory":
				dir = strings.TrimSpace(v)
			case "userid":
				id = strings.TrimSpace(v)
			}
		}
		user = dir + `\` + id
	}
	return strings.ToLower(strings.TrimSpace(user))
}
