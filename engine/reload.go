package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
)

// ReloadStatus is the outcome of the last reload, for /status and metrics.
type ReloadStatus struct {
	Revision    string    `json:"revision"` // of the rule set in use
	OK          bool      `json:"ok"`       // the last attempt succeeded
	LastError   string    `json:"last_error,omitempty"`
	LastAttempt time.Time `json:"last_attempt"`
	LastSuccess time.Time `json:"last_success"`
}

// Reloader keeps the current rule set of a policy folder. A reload builds
// the new set on the side and swaps one pointer; a bad set never replaces a
// good one. Executions hold the *Ruleset they started with.
type Reloader struct {
	dir  string
	opts LoadOptions
	log  *slog.Logger
	now  func() time.Time

	current atomic.Pointer[Ruleset]

	mu       sync.Mutex // serialises reloads and guards status and hooks
	status   ReloadStatus
	onReload []func(ReloadStatus)

	debounce time.Duration
}

// NewReloader loads dir; the initial load must succeed.
func NewReloader(dir string, opts LoadOptions, log *slog.Logger) (*Reloader, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Reloader{dir: dir, opts: opts, log: log, now: time.Now, debounce: 250 * time.Millisecond}
	rs, err := Load(dir, opts)
	if err != nil {
		return nil, err
	}
	r.current.Store(rs)
	now := r.now()
	r.status = ReloadStatus{Revision: rs.Revision, OK: true, LastAttempt: now, LastSuccess: now}
	return r, nil
}

// Current returns the rule set in use.
func (r *Reloader) Current() *Ruleset { return r.current.Load() }

// Status returns the outcome of the last reload.
func (r *Reloader) Status() ReloadStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status
}

// OnReload registers a hook called after every reload attempt (metrics).
func (r *Reloader) OnReload(fn func(ReloadStatus)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.onReload = append(r.onReload, fn)
}

// Reload loads the folder again. On failure the old rule set stays in use
// and the error (every problem, positioned) is returned and kept in Status.
func (r *Reloader) Reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	rs, err := Load(r.dir, r.opts)
	if cur := r.current.Load(); err == nil && len(rs.Policies) == 0 && len(cur.Policies) > 0 {
		// A folder emptied for a moment (a deploy copying files over, a
		// file truncated before being written) would switch every policy
		// off; that takes a restart, not a reload.
		err = fmt.Errorf("the policy folder %s holds no policies now; keeping the %d in use (to run with none, restart)", r.dir, len(cur.Policies))
	}
	r.status.LastAttempt = r.now()
	if err != nil {
		r.status.OK = false
		r.status.LastError = err.Error()
		r.log.Error("policy reload failed; the previous policies stay in use",
			"dir", r.dir, "revision", r.status.Revision, "err", err)
	} else {
		// The same files give the same revision: the set in use stays.
		if old := r.current.Load(); old == nil || old.Revision != rs.Revision {
			r.current.Store(rs)
			r.log.Info("policies reloaded", "dir", r.dir, "revision", rs.Revision, "policies", len(rs.Policies))
		}
		r.status = ReloadStatus{Revision: rs.Revision, OK: true, LastAttempt: r.status.LastAttempt, LastSuccess: r.status.LastAttempt}
	}
	st := r.status
	for _, fn := range r.onReload {
		fn(st)
	}
	return err
}

// Watch reloads when a file of the folder changes, until ctx ends. It
// watches the folder rather than the files because editors save by
// renaming, and waits for the changes to settle (debounce) before loading.
func (r *Reloader) Watch(ctx context.Context) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watching the policy folder: %w", err)
	}
	defer w.Close()
	if err := w.Add(r.dir); err != nil {
		return fmt.Errorf("watching the policy folder %s: %w", r.dir, err)
	}
	// An edit saved between the first load and now raised no event: load
	// once more (it logs only when the revision changed).
	_ = r.Reload()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return errors.New("the policy folder watcher stopped")
			}
			if !relevant(ev.Name) {
				continue
			}
			timer.Reset(r.debounce)
		case err, ok := <-w.Errors:
			if !ok {
				return errors.New("the policy folder watcher stopped")
			}
			r.log.Warn("policy folder watcher", "err", err)
		case <-timer.C:
			_ = r.Reload() // logged and kept in Status
		}
	}
}

// relevant skips editor droppings (.swp, ~ backups, hidden files).
func relevant(path string) bool {
	base := filepath.Base(path)
	if base == "" || base[0] == '.' || base[len(base)-1] == '~' {
		return false
	}
	ext := filepath.Ext(base)
	return ext == ".yaml" || ext == ".yml"
}
