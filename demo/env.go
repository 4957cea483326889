// Package demo runs the whole of qs-promoter in one process: three simulated
// Qlik Sense sites (dev, test, prod) seeded as in the original promoter's
// README, an SMTP server and a versioned S3 store, and the daemon with the
// shipped policies. `qs-promoter demo` plays the original workflow on it,
// and the end-to-end scenario tests share the same environment.
package demo

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
	"gopkg.in/yaml.v3"

	qspromoter "github.com/qs-promoter/qs-promoter"
	"github.com/qs-promoter/qs-promoter/console"
	"github.com/qs-promoter/qs-promoter/daemon"
	"github.com/qs-promoter/qs-promoter/qrs"
	"github.com/qs-promoter/qs-promoter/qrs/qrssim"
)

// The people of the seeded sites, as QRS accounts.
const (
	Rep       = `CORP\sales_rep`     // builds and publishes apps
	Manager   = `CORP\sales_manager` // reviews and approves
	Scheduler = `INTERNAL\sa_scheduler`
	Service   = `INTERNAL\sa_api` // the daemon's own account

	RepEmail     = "sam.rep@example.com"
	ManagerEmail = "morgan.manager@example.com"
	AdminEmail   = "qlik-admins@example.com" // smtp.admin: told of executions that fail for good
	Bucket       = "qlik-app-versions"
)

// Options configures an environment.
type Options struct {
	// Dir holds the certificates, configuration, policies, state and logs.
	// "": a temporary folder removed by Close.
	Dir string
	// Policies are copied into Dir/policies (nil: the shipped policies).
	Policies fs.FS
	// Vars are set under vars: in the configuration (the defaults the
	// policy files declare apply to the rest).
	Vars map[string]any
	// Seeds replaces a site's seed (by alias); the others get DefaultSeed.
	Seeds map[string]*qrssim.Seed
	// NoS3 leaves s3: out of the configuration (no versioning).
	NoS3 bool
	// CoalesceWindow is the daemon's coalesce_window (default 150ms).
	CoalesceWindow time.Duration
	// Config adds top-level configuration keys (resubscribe_interval: 3s),
	// overriding the environment's own.
	Config map[string]any
	// Log receives the daemon's and simulator's log (text); nil: Dir/daemon.log.
	Log io.Writer
	// Progress, if set, receives the daemon's progress reports of long steps.
	Progress func(step, detail string)
	// Webhooks are chat endpoints the configuration posts to.
	Webhooks []Webhook
}

// Webhook is an endpoint of the configuration's webhooks:. Its URL is
// written to a file beside the configuration (url_file), as a secret is.
type Webhook struct {
	Name, Format, URL string
}

// Sites are the aliases of the simulated sites; dev is watched.
var Sites = []string{"dev", "test", "prod"}

// Env is a running environment.
type Env struct {
	Dir        string
	ConfigPath string
	Config     *daemon.Config
	Sim        *qrssim.Sim
	Mail       *MailServer
	S3         *S3Server // nil with NoS3
	Daemon     *daemon.Daemon
	Callback   string // the daemon's base URL (callbacks, /healthz)
	// The operator's console: its URL and the login made for the demo.
	Console, ConsoleUser, ConsolePassword string

	removeDir bool
	logFile   *os.File
	cancel    context.CancelFunc
	done      chan error

	mu      sync.Mutex
	reports []daemon.ExecutionReport
	changed chan struct{}

	clientMu sync.Mutex
	clients  map[string]*qrs.Client
}

// Start builds and starts everything, and returns once the daemon has
// subscribed to dev and finished its first catch-up.
func Start(ctx context.Context, opts Options) (env *Env, err error) {
	e := &Env{Dir: opts.Dir, changed: make(chan struct{}), clients: map[string]*qrs.Client{}}
	defer func() {
		if err != nil {
			e.Close()
		}
	}()
	if e.Dir == "" {
		if e.Dir, err = os.MkdirTemp("", "qs-promoter-demo-"); err != nil {
			return nil, err
		}
		e.removeDir = true
	} else if err = os.MkdirAll(e.Dir, 0o755); err != nil {
		return nil, err
	}
	logw := opts.Log
	if logw == nil {
		if e.logFile, err = os.Create(filepath.Join(e.Dir, "daemon.log")); err != nil {
			return nil, err
		}
		logw = e.logFile
	}
	log := slog.New(&progressHandler{Handler: slog.NewTextHandler(logw, nil), progress: opts.Progress})

	sims := make([]qrssim.SiteOptions, len(Sites))
	for i, alias := range Sites {
		seed := opts.Seeds[alias]
		if seed == nil {
			seed = qrssim.DefaultSeed(alias)
		}
		sims[i] = qrssim.SiteOptions{Alias: alias, Seed: seed, HostName: "qlik-" + alias + ".example.com"}
	}
	if e.Sim, err = qrssim.Start(qrssim.Options{Sites: sims, CertDir: filepath.Join(e.Dir, "certs"), Log: log.With("component", "qrssim")}); err != nil {
		return nil, err
	}
	if e.Mail, err = StartMailServer(); err != nil {
		return nil, err
	}
	if !opts.NoS3 {
		if e.S3, err = StartS3(Bucket); err != nil {
			return nil, err
		}
		// The fake store checks no signature, but the AWS SDK signs every
		// request: give it static keys instead of searching for real ones.
		for k, v := range map[string]string{"AWS_ACCESS_KEY_ID": S3AccessKey, "AWS_SECRET_ACCESS_KEY": S3SecretKey, "AWS_EC2_METADATA_DISABLED": "true"} {
			if err := os.Setenv(k, v); err != nil {
				return nil, err
			}
		}
	}
	if err := writePolicies(opts.Policies, filepath.Join(e.Dir, "policies")); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	e.Callback = "http://" + ln.Addr().String()
	cln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		ln.Close()
		return nil, err
	}
	e.Console = "http://" + cln.Addr().String()
	if e.ConfigPath, err = e.writeConfig(opts, ln.Addr().String(), cln.Addr().String()); err != nil {
		ln.Close()
		cln.Close()
		return nil, err
	}
	if e.Config, err = daemon.LoadConfig(e.ConfigPath); err != nil {
		ln.Close()
		cln.Close()
		return nil, err
	}
	// The queue is polled at the daemon's own interval (the coalescing
	// window, at least 100ms): faster polling costs more CPU than it saves
	// time, several environments run at once in the tests.
	e.Daemon, err = daemon.New(e.Config, daemon.WithListener(ln), daemon.WithLogger(log), daemon.OnExecution(e.record),
		daemon.WithConsoleListener(cln), console.Attach(console.Options{Log: log.With("component", "console")}))
	if err != nil {
		ln.Close()
		cln.Close()
		return nil, err
	}
	var runCtx context.Context
	runCtx, e.cancel = context.WithCancel(context.Background())
	e.done = make(chan error, 1)
	go func() { e.done <- e.Daemon.Run(runCtx) }()
	return e, e.waitReady(ctx)
}

// waitReady waits for the subscriptions and the first catch-up of dev.
func (e *Env) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	last := "no answer"
	for {
		st, err := e.Status(ctx)
		if err == nil {
			for _, s := range st.Sites {
				if s.Watch && len(s.Subscriptions) > 0 && !s.LastCatchup.IsZero() {
					return nil
				}
			}
			last = fmt.Sprintf("problems: %v", st.Problems)
		} else {
			last = err.Error()
		}
		select {
		case err := <-e.done:
			return fmt.Errorf("the daemon stopped: %v", err)
		case <-ctx.Done():
			return fmt.Errorf("the daemon did not subscribe to dev in time (%s)", last)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Settle waits until the daemon is idle: nothing queued or running, and
// no notification delivered or execution finished for a while. An act
// starts from a settled state, so that the evaluation it waits for is
// its own and not a late one of the act before.
func (e *Env) Settle(ctx context.Context) error {
	quiet := 2*e.Config.CoalesceWindow + 100*time.Millisecond
	activity := func() int64 {
		n := int64(e.Mark())
		for _, s := range e.Sim.Sites() {
			n += s.NotificationsDelivered()
		}
		return n
	}
	for {
		before := activity()
		select {
		case <-time.After(quiet):
		case <-ctx.Done():
			return fmt.Errorf("the daemon did not settle: %w", ctx.Err())
		}
		st, err := e.Status(ctx)
		if err != nil {
			return err
		}
		busy := 0
		for _, n := range st.Queue {
			busy += n
		}
		if busy == 0 && activity() == before {
			return nil
		}
	}
}

// Status is the daemon's status, as the console's /status serves it.
func (e *Env) Status(ctx context.Context) (*daemon.Status, error) {
	st := e.Daemon.StatusContext(ctx)
	return &st, nil
}

// writeConfig writes the daemon configuration a user could also run with
// `qs-promoter serve --config`, and returns its path.
func (e *Env) writeConfig(opts Options, listen, consoleListen string) (string, error) {
	approvers := filepath.Join(e.Dir, "approvers.csv")
	var rows strings.Builder
	rows.WriteString("StreamID, ApprovalEmailAddress\n")
	if review, ok := e.Sim.Site("dev").StreamByName("Review"); ok {
		fmt.Fprintf(&rows, "%s, %s\n", review.ID, ManagerEmail)
	}
	if err := os.WriteFile(approvers, []byte(rows.String()), 0o644); err != nil {
		return "", err
	}
	type site struct {
		Alias string `yaml:"alias"`
		Host  string `yaml:"host"`
		Port  int    `yaml:"port"`
		Certs string `yaml:"certs"`
		Watch bool   `yaml:"watch,omitempty"`
	}
	cfg := map[string]any{}
	var sites []site
	for _, alias := range Sites {
		s := e.Sim.Site(alias)
		sites = append(sites, site{Alias: alias, Host: "localhost", Port: s.Port(), Certs: s.CertDir(), Watch: alias == "dev"})
	}
	coalesce := opts.CoalesceWindow
	if coalesce == 0 {
		coalesce = 150 * time.Millisecond
	}
	cfg["sites"] = sites
	cfg["user"] = Service
	cfg["listen"] = listen
	cfg["callback_url"] = "http://" + listen
	cfg["policies"] = "policies"
	cfg["state_dir"] = "state"
	cfg["approvers"] = "approvers.csv"
	cfg["coalesce_window"] = coalesce.String()
	// The console, with an operator made for this run.
	e.ConsoleUser, e.ConsolePassword = "demo", newPassword()
	hash, err := bcrypt.GenerateFromPassword([]byte(e.ConsolePassword), bcrypt.MinCost)
	if err != nil {
		return "", err
	}
	cfg["console"] = map[string]any{"listen": consoleListen, "users": []map[string]any{{"name": e.ConsoleUser, "password_hash": string(hash)}}}
	cfg["smtp"] = map[string]any{"host": e.Mail.Host(), "port": e.Mail.Port(), "tls": "none", "from": "qs-promoter <qs-promoter@example.com>",
		"admin": []string{AdminEmail}}
	if e.S3 != nil {
		cfg["s3"] = map[string]any{"bucket": e.S3.Bucket, "region": S3Region, "endpoint": e.S3.URL, "path_style": true}
	}
	if len(opts.Vars) > 0 {
		cfg["vars"] = opts.Vars
	}
	for k, v := range opts.Config {
		cfg[k] = v
	}
	var hooks []map[string]any
	for _, w := range opts.Webhooks {
		file := "webhook-" + w.Name + ".url"
		if err := os.WriteFile(filepath.Join(e.Dir, file), []byte(w.URL+"\n"), 0o600); err != nil {
			return "", err
		}
		hooks = append(hooks, map[string]any{"name": w.Name, "format": w.Format, "url_file": file})
	}
	if len(hooks) > 0 {
		cfg["webhooks"] = hooks
	}
	b, err := yaml.Marshal(cfg)
	if err != nil {
		return "", err
	}
	path := filepath.Join(e.Dir, "qs-promoter.yaml")
	head := "# Written by `qs-promoter demo`: the daemon configuration of the simulated sites.\n"
	return path, os.WriteFile(path, append([]byte(head), b...), 0o644)
}

// newPassword makes the demo console's password.
func newPassword() string {
	b := make([]byte, 9)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// writePolicies copies the policy files, their tests and test data into dir.
func writePolicies(src fs.FS, dir string) error {
	if src == nil {
		src = qspromoter.Policies
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return fs.WalkDir(src, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		to := filepath.Join(dir, filepath.FromSlash(path))
		if d.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		b, err := fs.ReadFile(src, path)
		if err != nil {
			return err
		}
		return os.WriteFile(to, b, 0o644)
	})
}

// record keeps every execution report (the daemon's hook).
func (e *Env) record(r daemon.ExecutionReport) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.reports = append(e.reports, r)
	close(e.changed)
	e.changed = make(chan struct{})
}

// Reports returns the execution reports from index since on, and the
// index to pass next time.
func (e *Env) Reports(since int) ([]daemon.ExecutionReport, int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if since > len(e.reports) {
		since = len(e.reports)
	}
	return append([]daemon.ExecutionReport(nil), e.reports[since:]...), len(e.reports)
}

// Mark returns the index of the next execution report.
func (e *Env) Mark() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.reports)
}

// WaitExecution waits for an evaluation of app (from report index since
// on) whose policies ran: not a skipped one (the daemon's own writes) and
// not one that will be retried.
func (e *Env) WaitExecution(ctx context.Context, since int, appID string) (daemon.ExecutionReport, error) {
	for {
		e.mu.Lock()
		ch := e.changed
		for _, r := range e.reports[min(since, len(e.reports)):] {
			if strings.EqualFold(r.AppID, appID) && r.Outcome != daemon.OutcomeSkipped && !r.WillRetry {
				e.mu.Unlock()
				return r, nil
			}
		}
		e.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return daemon.ExecutionReport{}, fmt.Errorf("no evaluation of app %s: %w", appID, ctx.Err())
		}
	}
}

// Client returns a QRS client of site acting as account ("DIR\user").
func (e *Env) Client(site, account string) (*qrs.Client, error) {
	e.clientMu.Lock()
	defer e.clientMu.Unlock()
	key := site + "|" + account
	if c, ok := e.clients[key]; ok {
		return c, nil
	}
	s := e.Sim.Site(site)
	if s == nil {
		return nil, fmt.Errorf("no site %q", site)
	}
	cfg := s.ClientConfig()
	cfg.User = account
	c, err := qrs.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	e.clients[key] = c
	return c, nil
}

// Close stops the daemon, the servers and the simulator, and removes a
// temporary Dir.
func (e *Env) Close() error {
	var errs []error
	if e.cancel != nil {
		e.cancel()
		select {
		case err := <-e.done:
			errs = append(errs, err)
		case <-time.After(30 * time.Second):
			errs = append(errs, errors.New("the daemon did not stop within 30s"))
		}
	}
	if e.Sim != nil {
		errs = append(errs, e.Sim.Close())
	}
	if e.Mail != nil {
		e.Mail.Close()
	}
	if e.S3 != nil {
		e.S3.Close()
	}
	if e.logFile != nil {
		errs = append(errs, e.logFile.Close())
	}
	if e.removeDir {
		errs = append(errs, os.RemoveAll(e.Dir))
	}
	return errors.Join(errs...)
}

// progressHandler passes the daemon's "progress" records to a callback as
// well as to the log.
type progressHandler struct {
	slog.Handler
	progress func(step, detail string)
	attrs    []slog.Attr
}

func (h *progressHandler) Handle(ctx context.Context, r slog.Record) error {
	if h.progress != nil && r.Message == "progress" {
		var step, detail string
		for _, a := range h.attrs {
			if a.Key == "step" {
				step = a.Value.String()
			}
		}
		r.Attrs(func(a slog.Attr) bool {
			switch a.Key {
			case "step":
				step = a.Value.String()
			case "detail":
				detail = a.Value.String()
			}
			return true
		})
		h.progress(step, detail)
	}
	return h.Handler.Handle(ctx, r)
}

func (h *progressHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &progressHandler{Handler: h.Handler.WithAttrs(attrs), progress: h.progress, attrs: append(append([]slog.Attr(nil), h.attrs...), attrs...)}
}

func (h *progressHandler) WithGroup(name string) slog.Handler {
	return &progressHandler{Handler: h.Handler.WithGroup(name), progress: h.progress, attrs: h.attrs}
}
