package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/qs-promoter/qs-promoter/qrs"
	"github.com/qs-promoter/qs-promoter/store"
)

// How an execution that cannot finish now finishes later. A step that
// fails transiently (after the QRS client's own retries) makes the whole
// execution run again after a delay (store.ExponentialDelay), resuming from
// its checkpoints, up to max_attempts. While a site it needs is known to
// be down, it waits instead, without using attempts, until give_up_after.
// Either way its last attempt makes every failure final, and a final
// failure is told to the admin (adminnotice.go).

// waits remembers which sites each waiting execution waits for, so that
// its next check looks at them before running anything. (Lost at a
// restart, it costs one attempt that fails and waits again, unused.)
type waits struct {
	mu sync.Mutex
	m  map[string][]string // execution ID → site aliases
}

func (w *waits) set(id string, sites []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m == nil {
		w.m = map[string][]string{}
	}
	w.m[id] = sites
}

func (w *waits) get(id string) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.m[id]
}

func (w *waits) drop(id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.m, id)
}

// downFor lists the sites down that the execution is known to need: the
// site of its app, and those it waited for last.
func (d *Daemon) downFor(job store.Job) []string {
	var down []string
	for _, alias := range append([]string{job.Site}, d.waits.get(job.ExecutionID)...) {
		if d.siteDown(alias) && !slices.Contains(down, alias) {
			down = append(down, alias)
		}
	}
	return down
}

// downIn lists the sites down among those whose QRS calls failed
// transiently in err.
func (d *Daemon) downIn(err error) []string {
	var down []string
	for _, alias := range transientSites(err) {
		if d.siteDown(alias) {
			down = append(down, alias)
		}
	}
	return down
}

// transientSites lists the sites of the transient QRS failures in err's
// tree (a promotion fails on each target site separately).
func transientSites(err error) []string {
	var out []string
	var walk func(error)
	walk = func(err error) {
		switch e := err.(type) {
		case nil:
		case *qrs.Error:
			if e.Transient() && !slices.Contains(out, e.Site) {
				out = append(out, e.Site)
			}
		case interface{ Unwrap() []error }:
			for _, x := range e.Unwrap() {
				walk(x)
			}
		case interface{ Unwrap() error }:
			walk(e.Unwrap())
		}
	}
	walk(err)
	return out
}

// tooOld reports whether the execution has been at it for give_up_after:
// its next failure is final, and it waits for no site any longer.
func (d *Daemon) tooOld(job store.Job) bool {
	return !job.CreatedAt.IsZero() && d.now().Sub(job.CreatedAt) >= d.cfg.GiveUpAfter
}

// recheck is how often a waiting execution looks whether its sites are
// back: as often as their health is checked.
func (d *Daemon) recheck() time.Duration {
	return min(max(d.cfg.HealthInterval, 100*time.Millisecond), time.Minute)
}

// waitReason says why an execution waits, with the sites' last errors.
func (d *Daemon) waitReason(down []string) string {
	var parts []string
	for _, alias := range down {
		s := d.sites[alias]
		s.mu.Lock()
		parts = append(parts, fmt.Sprintf("site %s is down (%s)", alias, s.lastErr))
		s.mu.Unlock()
	}
	return strings.Join(parts, "; ") + fmt.Sprintf(": waiting for it without using attempts (for up to give_up_after, %s)", d.cfg.GiveUpAfter)
}

// keepWaiting puts back an execution whose sites are still down, to look
// again after recheck. The wait is recorded (store, audit, hooks) once, when
// it starts, not at every look.
func (d *Daemon) keepWaiting(ctx context.Context, job store.Job, down []string, log *slog.Logger) error {
	reason := d.waitReason(down)
	already, err := d.store.Wait(ctx, job, reason)
	if err != nil {
		log.Error("could not record a waiting execution", "err", err)
	}
	if err == nil && !already {
		rep := ExecutionReport{ExecutionID: job.ExecutionID, Attempt: job.Attempt, Site: job.Site, AppID: job.AppID,
			Outcome: OutcomeWaiting, Reason: reason, WillRetry: true, NextAttempt: d.now().Add(d.recheck())}
		d.recordAttempt(rep, nil, log)
	}
	d.waits.set(job.ExecutionID, down)
	return store.Snooze(d.recheck())
}

// recordAttempt tells the audit log, metrics, log and hooks how an
// attempt ended (work does the same, with the store, for one that ran).
func (d *Daemon) recordAttempt(rep ExecutionReport, ns []store.Notification, log *slog.Logger) {
	decision := d.decisionRecord(rep, ns)
	d.writeAudit(decision)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := d.store.AppendAudit(ctx, storedAudit(decision)); err != nil {
		log.Error("could not store the decision record (the audit file has it)", "err", err)
	}
	d.metrics.executions.WithLabelValues(rep.Outcome).Inc()
	log.Warn("execution", "outcome", rep.Outcome, "reason", rep.Reason, "next_attempt", rep.NextAttempt)
	for _, h := range d.hooks {
		h(rep)
	}
}

// untilEarlier is how long an execution waits for an earlier one of its
// app still queued (due at due) before it looks again.
func (d *Daemon) untilEarlier(due time.Time) time.Duration {
	return min(max(due.Sub(d.now()), time.Second), d.recheck())
}

// RetryExecution runs a failed execution again, now, with a fresh set of
// attempts. It is the same execution: the steps that finished are not run
// again (nothing is copied twice, no e-mail sent twice), the others run,
// the failed ones resuming from their journals. The console's retry button
// (and POST /-/retry/{id}) calls it; `qs-promoter retry` does the same
// beside the daemon (RetryBeside). An execution that did not fail is
// refused (*store.NotFailedError), an unknown one is store.ErrNoExecution.
func (d *Daemon) RetryExecution(ctx context.Context, id, by string) (*store.Execution, error) {
	e, rec, auditErr, err := requeue(ctx, d.store, d.cfg.MaxAttempts, id, by, d.now())
	if err != nil {
		return nil, err
	}
	d.writeAudit(rec)
	if auditErr != nil {
		d.log.Error("could not store the retry's audit record (the audit file has it)", "execution_id", e.ID, "err", auditErr)
	}
	d.log.Info("a failed execution is queued again at an admin's request", "execution_id", e.ID, "site", e.Site, "app_id", e.AppID, "app_name", e.AppName, "by", by)
	return e, nil
}

// RetryBeside is RetryExecution from a command beside the running daemons
// (qs-promoter retry): it queues the execution again in their database,
// where a daemon's worker takes it up. The audit record goes to the
// database (a daemon's audit file is its own).
func RetryBeside(ctx context.Context, cfg *Config, id, by string) (*store.Execution, error) {
	st, err := OpenStoreBeside(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	e, _, auditErr, err := requeue(ctx, st, cfg.MaxAttempts, id, by, time.Now())
	if err != nil {
		return nil, err
	}
	if auditErr != nil {
		return e, fmt.Errorf("execution %s is queued again, but its audit record could not be stored: %w", e.ID, auditErr)
	}
	return e, nil
}

// requeue queues a failed execution again and stores the audit record
// saying who asked. The execution is queued even when the record could not
// be stored (auditErr).
func requeue(ctx context.Context, st *store.Store, attempts int, id, by string, now time.Time) (e *store.Execution, rec auditRetry, auditErr, err error) {
	if e, err = st.Requeue(ctx, id, attempts); err != nil {
		return nil, rec, nil, err
	}
	rec = auditRetry{Time: now.UTC(), Type: "retry", ExecutionID: e.ID, Site: e.Site, AppID: e.AppID, AppName: e.AppName, User: by,
		Reason: "an admin asked to run the failed execution again", LastError: e.Error, MaxAttempts: attempts}
	raw, _ := json.Marshal(rec)
	auditErr = st.AppendAudit(ctx, store.AuditRecord{Time: rec.Time, Type: rec.Type, ExecutionID: e.ID, Site: e.Site, AppID: e.AppID,
		AppName: e.AppName, User: by, Policies: e.Policies, Outcome: "queued", Record: raw})
	return e, rec, auditErr, nil
}

// auditRetry is the audit line of an admin's retry of a failed execution.
type auditRetry struct {
	Time        time.Time `json:"time"`
	Type        string    `json:"type"` // "retry"
	ExecutionID string    `json:"execution_id"`
	Site        string    `json:"site"`
	AppID       string    `json:"app_id"`
	AppName     string    `json:"app_name,omitempty"`
	User        string    `json:"user,omitempty"` // who asked
	Reason      string    `json:"reason"`
	LastError   string    `json:"last_error,omitempty"`
	MaxAttempts int       `json:"max_attempts"`
}
