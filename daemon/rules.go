package daemon

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/qs-promoter/qs-promoter/engine"
)

// RulesStatus is the state of the policy rule set, for /status.
type RulesStatus struct {
	Revision     string    `json:"revision"`
	Files        []string  `json:"files"`
	Policies     int       `json:"policies"`
	LoadedAt     time.Time `json:"loaded_at"`
	LastReloadAt time.Time `json:"last_reload_at"`
	LastError    string    `json:"last_reload_error,omitempty"`
}

// policyRules holds the current rule set and reloads it: the new set is
// built on the side and swapped in with one pointer store; a bad set never
// replaces a good one.
// TODO(engine): switch to engine.Reloader when it lands; this is the same
// contract.
type policyRules struct {
	dir      string
	opts     engine.LoadOptions
	log      *slog.Logger
	onReload func(ok bool, at time.Time)
	now      func() time.Time

	cur    atomic.Pointer[engine.Ruleset]
	mu     sync.Mutex // serialises reloads and guards status
	status RulesStatus
}

func newPolicyRules(dir string, opts engine.LoadOptions, log *slog.Logger, now func() time.Time, onReload func(bool, time.Time)) (*policyRules, error) {
	p := &policyRules{dir: dir, opts: opts, log: log, onReload: onReload, now: now}
	if err := p.Reload(); err != nil {
		return nil, err
	}
	return p, nil
}

// Current returns the rule set in force.
func (p *policyRules) Current() *engine.Ruleset { return p.cur.Load() }

// Reload loads the policy folder again.
func (p *policyRules) Reload() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	at := p.now()
	rs, err := engine.Load(p.dir, p.opts)
	p.status.LastReloadAt = at
	if err != nil {
		p.status.LastError = err.Error()
		p.log.Error("policy reload failed; the previous rule set stays in force", "dir", p.dir, "err", err)
		p.onReload(false, at)
		return err
	}
	p.cur.Store(rs)
	p.status = RulesStatus{Revision: rs.Revision, Files: rs.Files, Policies: len(rs.Policies), LoadedAt: at, LastReloadAt: at}
	p.log.Info("policies loaded", "revision", rs.Revision, "files", len(rs.Files), "policies", len(rs.Policies))
	p.onReload(true, at)
	return nil
}

// Status reports the rule set and the last reload.
func (p *policyRules) Status() RulesStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.status
}

// Watch reloads when the policy folder changes (the folder, not the files:
// editors save by renaming), debounced, until ctx ends.
func (p *policyRules) Watch(ctx context.Context) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		p.log.Warn("cannot watch the policy folder; reload with SIGHUP or POST /-/reload", "err", err)
		return
	}
	defer w.Close()
	if err := w.Add(p.dir); err != nil {
		p.log.Warn("cannot watch the policy folder; reload with SIGHUP or POST /-/reload", "dir", p.dir, "err", err)
		return
	}
	var timer *time.Timer
	fire := make(chan struct{}, 1)
	for {
		select {
		case <-ctx.Done():
			if timer != nil {
				timer.Stop()
			}
			return
		case <-w.Events:
			if timer != nil {
				timer.Stop()
			}
			timer = time.AfterFunc(250*time.Millisecond, func() {
				select {
				case fire <- struct{}{}:
				default:
				}
			})
		case err := <-w.Errors:
			p.log.Warn("policy folder watch", "err", err)
		case <-fire:
			_ = p.Reload()
		}
	}
}
