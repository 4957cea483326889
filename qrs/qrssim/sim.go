// Package qrssim simulates Qlik Sense Repository Service (QRS) sites for
// tests and the demo, the way net/http/httptest serves the standard library:
// each site is a real HTTPS server on 127.0.0.1 with mutual TLS and its own
// CA, answering the QRS endpoints the project uses with QRS's status codes,
// JSON shapes and plain-text errors, firing change notifications to
// subscribers, and streaming app content of any size with bounded memory.
// Faults (latency, bandwidth, errors, dropped connections) can be injected
// per site, and every request is logged for assertions.
package qrssim

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/qs-promoter/qs-promoter/qrs"
)

// Options configures a simulator.
type Options struct {
	Sites []SiteOptions
	// CertDir receives each site's certificates in CertDir/<alias>/
	// (client.pem, client_key.pem, root.pem, plus server.pem and
	// server_key.pem so a later run reuses them). "": a temp dir removed on Close.
	CertDir string
	// BasePort 0: random free ports; otherwise site i listens on
	// 127.0.0.1:BasePort+i.
	BasePort int
	Log      *slog.Logger // nil: discard
}

// SiteOptions configures one site.
type SiteOptions struct {
	Alias string
	Seed  *Seed // nil: an empty site (only the INTERNAL\sa_repository user)
	// NotifyCopies is how many notifications one change fires per
	// subscription (real servers often send several); default 1.
	NotifyCopies int
	// HostName is the originatorHostName of notifications; default "localhost".
	HostName string
}

// Sim is a running set of simulated sites.
type Sim struct {
	sites   []*Site
	certDir string
	tempDir string // removed on Close: temp certificates and spilled uploads
	log     *slog.Logger

	ctx      context.Context // ends on Close: stops deliveries and transfers
	cancel   context.CancelFunc
	wg       sync.WaitGroup // servers and deliveries
	hmu      sync.Mutex
	closed   bool
	handlers sync.WaitGroup // requests in flight (http.Server.Close does not wait)
	closeErr error
	once     sync.Once

	metaMu  sync.Mutex
	reloads map[string]time.Time // content hash → last reload time of an app holding it

	spillOnce sync.Once
	spillDir  string
	spillErr  error
}

var aliasRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// Start starts every site and returns when they accept connections.
func Start(opts Options) (*Sim, error) {
	if len(opts.Sites) == 0 {
		return nil, errors.New("qrssim: no sites; give at least one alias")
	}
	seen := map[string]bool{}
	for _, so := range opts.Sites {
		if !aliasRE.MatchString(so.Alias) {
			return nil, fmt.Errorf("qrssim: site alias %q: use letters, digits, '-', '_' or '.' (it names a folder)", so.Alias)
		}
		if seen[strings.ToLower(so.Alias)] {
			return nil, fmt.Errorf("qrssim: site alias %q is given twice", so.Alias)
		}
		seen[strings.ToLower(so.Alias)] = true
	}
	if opts.BasePort < 0 || opts.BasePort+len(opts.Sites)-1 > 65535 {
		return nil, fmt.Errorf("qrssim: base port %d: sites need ports %d to %d, within 1-65535", opts.BasePort, opts.BasePort, opts.BasePort+len(opts.Sites)-1)
	}
	logger := opts.Log
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	tempDir, err := os.MkdirTemp("", "qrssim-")
	if err != nil {
		return nil, fmt.Errorf("qrssim: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	sim := &Sim{certDir: opts.CertDir, tempDir: tempDir, log: logger, ctx: ctx, cancel: cancel}
	if sim.certDir == "" {
		sim.certDir = filepath.Join(tempDir, "certs")
	}
	for i, so := range opts.Sites {
		port := 0
		if opts.BasePort != 0 {
			port = opts.BasePort + i
		}
		site, err := sim.startSite(so, port)
		if err != nil {
			sim.Close()
			return nil, err
		}
		sim.sites = append(sim.sites, site)
	}
	return sim, nil
}

func (sim *Sim) startSite(so SiteOptions, port int) (*Site, error) {
	now := time.Now()
	certDir := filepath.Join(sim.certDir, so.Alias)
	certs, err := loadOrCreateCerts(certDir, so.Alias, now)
	if err != nil {
		return nil, fmt.Errorf("qrssim: %w", err)
	}
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return nil, fmt.Errorf("qrssim: site %q: %w (is another simulator running? try another --base-port)", so.Alias, err)
	}
	s := newSite(sim, so, certDir, now)
	s.port = ln.Addr().(*net.TCPAddr).Port
	s.tlsConfig = &tls.Config{
		Certificates: []tls.Certificate{certs.server},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    certs.roots,
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"http/1.1"}, // HTTP/1.1 only: dropped-connection faults hijack
	}
	if so.Seed != nil {
		if err := s.Load(so.Seed); err != nil {
			ln.Close()
			return nil, fmt.Errorf("qrssim: site %q: %w", so.Alias, err)
		}
	}
	s.srvMu.Lock()
	s.serve(ln)
	s.srvMu.Unlock()
	sim.wg.Add(1)
	go func() {
		defer sim.wg.Done()
		s.deliver(sim.ctx)
	}()
	s.log.Info("qrssim: site listening", "site", s.alias, "url", s.URL())
	return s, nil
}

// serve answers on ln with a new server (a restarted site gets a new one).
// srvMu is held.
func (s *Site) serve(ln net.Listener) {
	srv := &http.Server{
		Handler:           s,
		TLSConfig:         s.tlsConfig,
		ReadHeaderTimeout: 30 * time.Second,
		// Handshake failures (no client certificate) are expected in tests.
		ErrorLog: log.New(slogWriter{s.log}, "", 0),
		BaseContext: func(net.Listener) context.Context {
			return s.sim.ctx
		},
	}
	s.srv, s.ln = srv, ln
	s.sim.wg.Add(1)
	go func() {
		defer s.sim.wg.Done()
		err := srv.Serve(tls.NewListener(ln, s.tlsConfig))
		if err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			s.log.Error("qrssim: server stopped", "site", s.alias, "err", err)
		}
	}()
}

// slogWriter sends http.Server's own log lines to slog at debug level.
type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.l.Debug("qrssim: http: " + strings.TrimSpace(string(p)))
	return len(p), nil
}

// Site returns the site with this alias (case-insensitive), or nil.
func (sim *Sim) Site(alias string) *Site {
	for _, s := range sim.sites {
		if strings.EqualFold(s.alias, alias) {
			return s
		}
	}
	return nil
}

// Sites returns the sites in the order they were given.
func (sim *Sim) Sites() []*Site { return append([]*Site(nil), sim.sites...) }

// Close stops every site, its deliveries and transfers, and waits for them;
// it removes the temp dir (temp certificates, spilled uploads).
func (sim *Sim) Close() error {
	sim.once.Do(func() {
		sim.hmu.Lock()
		sim.closed = true
		sim.hmu.Unlock()
		sim.cancel()
		var errs []error
		for _, s := range sim.sites {
			if err := s.stop(); err != nil {
				errs = append(errs, err)
			}
		}
		sim.wg.Wait()
		sim.handlers.Wait()
		if err := os.RemoveAll(sim.tempDir); err != nil {
			errs = append(errs, err)
		}
		sim.closeErr = errors.Join(errs...)
	})
	return sim.closeErr
}

// enter registers a request in flight; false once closing.
func (sim *Sim) enter() bool {
	sim.hmu.Lock()
	defer sim.hmu.Unlock()
	if sim.closed {
		return false
	}
	sim.handlers.Add(1)
	return true
}

// noteReload remembers when content was last reloaded, so an upload of it
// elsewhere carries that lastReloadTime as a real .qvf does.
func (sim *Sim) noteReload(b *blob, t time.Time) {
	sim.metaMu.Lock()
	defer sim.metaMu.Unlock()
	if sim.reloads == nil {
		sim.reloads = map[string]time.Time{}
	}
	sim.reloads[b.id.Hash] = t
	sim.reloads[b.withoutData().id.Hash] = t
}

func (sim *Sim) reloadTimeOf(b *blob) time.Time {
	sim.metaMu.Lock()
	defer sim.metaMu.Unlock()
	return sim.reloads[b.id.Hash]
}

// spill returns the folder for uploads too large for memory.
func (sim *Sim) spill() (string, error) {
	sim.spillOnce.Do(func() {
		sim.spillDir = filepath.Join(sim.tempDir, "uploads")
		sim.spillErr = os.MkdirAll(sim.spillDir, 0o700)
	})
	return sim.spillDir, sim.spillErr
}

// Alias returns the site's alias.
func (s *Site) Alias() string { return s.alias }

// URL returns https://localhost:<port>.
func (s *Site) URL() string { return fmt.Sprintf("https://localhost:%d", s.port) }

// Port returns the site's port on 127.0.0.1.
func (s *Site) Port() int { return s.port }

// CertDir returns the folder holding client.pem, client_key.pem and root.pem.
func (s *Site) CertDir() string { return s.certDir }

// ClientConfig returns the configuration a qrs.Client needs for this site.
func (s *Site) ClientConfig() qrs.SiteConfig {
	return qrs.SiteConfig{Alias: s.alias, Host: "localhost", Port: s.port, CertDir: s.certDir}
}

// ContentBytesServed is the number of content bytes sent by export downloads.
func (s *Site) ContentBytesServed() int64 { return s.served.Load() }

// ContentBytesReceived is the number of content bytes received by uploads.
func (s *Site) ContentBytesReceived() int64 { return s.received.Load() }

// NotificationsDelivered is the number of notification POSTs that got an answer.
func (s *Site) NotificationsDelivered() int64 { return s.delivered.Load() }

// Restart simulates a repository restart without downtime: every
// subscription is dropped; connections stay open.
func (s *Site) Restart() { s.RestartFor(0) }

// RestartFor simulates a repository restart that takes downtime: every
// subscription is dropped, the port closes (connections are cut, new ones
// refused), and after downtime the site listens again on the same port with
// the same data. It returns once the port is closed.
func (s *Site) RestartFor(downtime time.Duration) { s.restart(downtime, false) }

// restart drops the subscriptions and, with downtime, closes the port and
// opens it again later. graceful lets the requests in progress finish
// (the one asking for the restart must get its answer).
func (s *Site) restart(downtime time.Duration, graceful bool) {
	s.mu.Lock()
	s.subs = newTable[Subscription]()
	s.restarts++
	s.mu.Unlock()
	s.log.Info("qrssim: repository restarted; subscriptions dropped", "site", s.alias, "downtime", downtime)
	if downtime <= 0 {
		return
	}
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	s.generation++
	gen := s.generation
	if s.stopped {
		return
	}
	if old := s.srv; old != nil {
		s.ln.Close() // refuse new connections now
		s.srv, s.ln = nil, nil
		if graceful {
			s.sim.wg.Add(1)
			go func() {
				defer s.sim.wg.Done()
				ctx, cancel := context.WithTimeout(s.sim.ctx, 5*time.Second)
				defer cancel()
				_ = old.Shutdown(ctx)
				_ = old.Close()
			}()
		} else {
			_ = old.Close()
		}
	}
	s.sim.wg.Add(1)
	go func() {
		defer s.sim.wg.Done()
		t := time.NewTimer(downtime)
		defer t.Stop()
		select {
		case <-t.C:
		case <-s.sim.ctx.Done():
			return
		}
		s.srvMu.Lock()
		defer s.srvMu.Unlock()
		if s.stopped || s.generation != gen || s.srv != nil {
			return // closing, or a later restart reopens it
		}
		s.reopen()
	}()
}

// reopen listens on the site's port again. srvMu is held.
func (s *Site) reopen() {
	addr := fmt.Sprintf("127.0.0.1:%d", s.port)
	for try := 0; ; try++ {
		ln, err := net.Listen("tcp", addr)
		if err == nil {
			s.serve(ln)
			s.log.Info("qrssim: repository back after a restart", "site", s.alias, "url", s.URL())
			return
		}
		if try == 50 || s.sim.ctx.Err() != nil {
			s.log.Error("qrssim: cannot listen again after a restart", "site", s.alias, "err", err)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Listening reports whether the site accepts connections (false during a
// restart's downtime).
func (s *Site) Listening() bool {
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	return s.srv != nil
}

// Restarts counts the restarts so far.
func (s *Site) Restarts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.restarts
}

// stop closes the site's server for good (Sim.Close).
func (s *Site) stop() error {
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	s.stopped = true
	if s.srv == nil {
		return nil
	}
	return s.srv.Close()
}

// Subscriptions returns the live subscriptions.
func (s *Site) Subscriptions() []Subscription {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Subscription
	for _, sub := range s.subs.all() {
		out = append(out, *sub)
	}
	return out
}

func newID() string { return uuid.NewString() }

var _ io.Writer = slogWriter{}
