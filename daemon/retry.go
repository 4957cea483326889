package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/mux"

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
// the failed ones resuming from their journals. `qs-promoter retry` (POST
// /-/retry/{id}) and the console call it. An execution that did not fail
// is refused (*store.NotFailedError), an unknown one is
// store.ErrNoExecution.
func (d *Daemon) RetryExecution(ctx context.Context, id string) (*store.Execution, error) {
	e, err := d.store.Requeue(ctx, id, d.cfg.MaxAttempts)
	if err != nil {
		return nil, err
	}
	rec := auditRetry{Time: d.now().UTC(), Type: "retry", ExecutionID: e.ID, Site: e.Site, AppID: e.AppID, AppName: e.AppName,
		Reason: "an admin asked to run the failed execution again", LastError: e.Error, MaxAttempts: d.cfg.MaxAttempts}
	d.writeAudit(rec)
	raw, _ := json.Marshal(rec)
	if err := d.store.AppendAudit(ctx, store.AuditRecord{Time: rec.Time, Type: rec.Type, ExecutionID: e.ID, Site: e.Site, AppID: e.AppID,
		AppName: e.AppName, Policies: e.Policies, Outcome: "queued", Record: raw}); err != nil {
		d.log.Error("could not store the retry's audit record (the audit file has it)", "execution_id", e.ID, "err", err)
	}
	d.log.Info("a failed execution is queued again at an admin's request", "execution_id", e.ID, "site", e.Site, "app_id", e.AppID, "app_name", e.AppName)
	return e, nil
}

// auditRetry is the audit line of an admin's retry of a failed execution.
type auditRetry struct {
	Time        time.Time `json:"time"`
	Type        string    `json:"type"` // "retry"
	ExecutionID string    `json:"execution_id"`
	Site        string    `json:"site"`
	AppID       string    `json:"app_id"`
	AppName     string    `json:"app_name,omitempty"`
	Reason      string    `json:"reason"`
	LastError   string    `json:"last_error,omitempty"`
	MaxAttempts int       `json:"max_attempts"`
}

// handleRetry is POST /-/retry/{id}: RetryExecution.
func (d *Daemon) handleRetry(w http.ResponseWriter, r *http.Request) {
	id := mux.Vars(r)["id"]
	e, err := d.RetryExecution(r.Context(), id)
	var nf *store.NotFailedError
	switch {
	case errors.Is(err, store.ErrNoExecution):
		http.Error(w, fmt.Sprintf("no execution %s here (execution IDs are in GET /status, the audit log and the failure e-mail)", id), http.StatusNotFound)
		return
	case errors.As(err, &nf):
		http.Error(w, err.Error(), http.StatusConflict)
		return
	case err != nil:
		http.Error(w, "the execution could not be queued again: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusAccepted)
	name := e.AppName
	if name == "" {
		name = e.AppID
	}
	fmt.Fprintf(w, "execution %s (app '%s' on site %s) is queued again with %d attempts; its finished steps are not run again\n",
		e.ID, name, e.Site, d.cfg.MaxAttempts)
}
