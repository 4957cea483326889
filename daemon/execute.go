package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/qs-promoter/qs-promoter/engine"
	"github.com/qs-promoter/qs-promoter/qrs"
	"github.com/qs-promoter/qs-promoter/store"
)

// The outcomes of an execution attempt.
const (
	OutcomeActed   = "acted"    // at least one policy matched and its steps ran without failure
	OutcomeNoMatch = "no_match" // no policy matched
	OutcomeFailed  = "failed"   // a step (or a policy's vars) failed for good: permanently, or on the last attempt
	OutcomeSkipped = "skipped"  // not evaluated: the daemon's own change, already evaluated, or the app is gone
	OutcomeError   = "error"    // a step failed transiently, the facts could not be read or the run was cut short; retried
	OutcomeWaiting = "waiting"  // a site the execution needs is down: it waits, without using attempts
)

// ExecutionReport describes one execution attempt, for OnExecution hooks.
type ExecutionReport struct {
	ExecutionID string
	Attempt     int
	Site        string
	AppID       string
	AppName     string
	Kinds       []string
	Outcome     string
	Reason      string         // why skipped, or the error
	Report      *engine.Report // nil when the policies were not evaluated
	EventFile   string         // the recorded event ("" when none was saved)
	Duration    time.Duration
	WillRetry   bool      // an error that River will retry, or a wait
	NextAttempt time.Time // when WillRetry: when the execution runs again (a wait: looks again)
}

// work is the River worker: one evaluation of one app.
func (d *Daemon) work(ctx context.Context, job store.Job) error {
	log := d.log.With("execution_id", job.ExecutionID, "site", job.Site, "app_id", job.AppID, "attempt", job.Attempt)
	ctx, release, err := d.holdApp(ctx, job, log) // one execution per app at a time, across replicas
	if err != nil {
		return err
	}
	defer release()

	// An earlier evaluation of this app still queued goes first: until it
	// ends it has not recorded the app state it evaluates, and this one
	// would act on the same change again.
	if due, ok, err := d.store.EarlierQueued(ctx, job); err != nil {
		return d.storeUnavailable(job, err, log)
	} else if ok {
		log.Debug("an earlier evaluation of the app is still queued; waiting for it", "due", due)
		return store.Snooze(d.untilEarlier(due))
	}
	// A site the execution needs is down: wait for it, using no attempt.
	if down := d.downFor(job); len(down) > 0 && !d.tooOld(job) {
		return d.keepWaiting(ctx, job, down, log)
	}

	// Coalescing: let the notifications of one save (QRS sends several)
	// and quick successive edits gather for coalesce_window before reading
	// the app once.
	if job.Attempt <= 1 {
		at, ok, err := d.store.OldestWaiting(ctx, job.Site, job.AppID)
		if err != nil {
			return err
		}
		if wait := at.Add(d.cfg.CoalesceWindow).Sub(d.now()); ok && wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return store.Snooze(0)
			}
		}
	}
	start := d.now()
	begun, err := d.store.Begin(ctx, job)
	if err != nil {
		return d.storeUnavailable(job, err, log)
	}
	ns := begun.Notifications
	rep := ExecutionReport{ExecutionID: job.ExecutionID, Attempt: job.Attempt, Site: job.Site, AppID: job.AppID}
	var fin store.Outcome
	// On the last attempt (by count or by age) every failure is final, and
	// on_error: continue goes on to the steps that report it.
	last := job.Attempt >= job.MaxAttempts || d.tooOld(job)
	runErr := d.execute(ctx, job, begun, !last, &rep, &fin, log)
	rep.Duration = d.now().Sub(start)

	// Bookkeeping must happen even when shutdown cancelled ctx.
	bctx := context.WithoutCancel(ctx)
	var ret error
	state := rep.Outcome
	down := d.downIn(runErr)
	switch {
	case runErr == nil:
	case ctx.Err() != nil:
		rep.Outcome, rep.Reason, state = OutcomeError, "interrupted by shutdown; resumes at the next start", "interrupted"
		if errors.Is(context.Cause(ctx), errAppLeaseLost) {
			rep.Reason = errAppLeaseLost.Error()
		}
		ret = store.Snooze(0)
	case isPermanent(runErr) || last:
		rep.Outcome, state = OutcomeFailed, OutcomeFailed
		rep.Reason = runErr.Error()
		switch {
		case isPermanent(runErr):
		case d.tooOld(job):
			rep.Reason = fmt.Sprintf("gave up after %s (give_up_after %s): %v", d.now().Sub(job.CreatedAt).Round(time.Second), d.cfg.GiveUpAfter, runErr)
		default:
			rep.Reason = fmt.Sprintf("gave up after %d attempts: %v", job.Attempt, runErr)
		}
		ret = store.Permanent(runErr)
	case len(down) > 0:
		// The failure is the outage's: wait for the site, using no attempt.
		rep.Outcome, state = OutcomeWaiting, store.StateWaiting
		rep.Reason = d.waitReason(down) + "; " + runErr.Error()
		rep.WillRetry, rep.NextAttempt = true, d.now().Add(d.recheck())
		d.waits.set(job.ExecutionID, down)
		ret = store.Snooze(d.recheck())
	default:
		rep.NextAttempt = d.store.RetryAt(job, d.now())
		rep.Outcome, rep.WillRetry, state = OutcomeError, true, store.StateRetrying
		rep.Reason = fmt.Sprintf("%v (attempt %d of %d; the next at %s)", runErr, job.Attempt, job.MaxAttempts, rep.NextAttempt.UTC().Format(time.RFC3339))
		ret = runErr
	}
	if !rep.WillRetry {
		d.waits.drop(job.ExecutionID)
	}
	if rep.Outcome == OutcomeFailed && runErr == nil && last {
		// Say why a failure that may have been transient is final.
		switch {
		case d.tooOld(job):
			rep.Reason = fmt.Sprintf("gave up after %s (give_up_after %s): the last attempt's failures are final",
				d.now().Sub(job.CreatedAt).Round(time.Second), d.cfg.GiveUpAfter)
		case job.Attempt > 1:
			rep.Reason = fmt.Sprintf("the last of %d attempts: its failures are final", job.MaxAttempts)
		}
	}
	summary := rep.Reason
	if summary == "" && rep.Report != nil {
		summary = reportSummary(rep.Report)
	}
	decision := d.decisionRecord(rep, ns)
	fin.State, fin.Summary, fin.Error, fin.AppName = state, summary, errText(runErr), rep.AppName
	fin.Audit = []store.AuditRecord{storedAudit(decision)}
	if rep.Report != nil {
		fin.Policies = matchedNames(rep.Report)
	}
	if err := d.store.Finish(bctx, job, fin); err != nil {
		log.Error("could not record the execution's end", "err", err)
	}
	d.metrics.executions.WithLabelValues(rep.Outcome).Inc()
	d.metrics.execDuration.Observe(rep.Duration.Seconds())
	d.writeAudit(decision)
	logAttrs := []any{"outcome", rep.Outcome, "kinds", rep.Kinds, "duration", rep.Duration}
	if rep.Reason != "" {
		logAttrs = append(logAttrs, "reason", rep.Reason)
	}
	if rep.Outcome == OutcomeError || rep.Outcome == OutcomeFailed {
		log.Warn("execution", logAttrs...)
	} else {
		log.Info("execution", logAttrs...)
	}
	for _, h := range d.hooks {
		h(rep)
	}
	if rep.Outcome == OutcomeFailed {
		d.tellAdmin(bctx, job, rep, log)
	}
	return ret
}

// storeUnavailable is work's answer when the database fails before the
// execution has begun: nothing has been done, so the job looks again a
// little later without using an attempt (an attempt used up this way would
// end the job with the execution's end never recorded).
func (d *Daemon) storeUnavailable(job store.Job, err error, log *slog.Logger) error {
	if errors.Is(err, context.Canceled) {
		return store.Snooze(0) // shutting down
	}
	log.Warn("the database failed before the execution began; it looks again shortly", "err", err)
	return store.Snooze(d.recheck())
}

// execute reads the facts (or, on a retry, reuses those the first attempt
// read), decides whether to evaluate, and runs the rule set. Its error is
// for failures worth retrying (or wrapped as permanent): with retry (not
// the last attempt) a step that failed transiently is one (an
// *engine.RetryError). A step's final failure is an outcome, not an
// error: it is recorded for the owner (the policy's own e-mails) and the
// admin. The app state it evaluated goes into fin, for work to record with
// the outcome.
func (d *Daemon) execute(ctx context.Context, job store.Job, begun *store.Begun, retry bool, rep *ExecutionReport, fin *store.Outcome, log *slog.Logger) error {
	ns, ex := begun.Notifications, begun.Execution
	s := d.sites[job.Site]
	if s == nil {
		return permanent(fmt.Errorf("site %q is no longer configured", job.Site))
	}
	var ev *engine.Event
	resumed := len(ex.Event) > 0
	if resumed {
		ev = new(engine.Event)
		if err := json.Unmarshal(ex.Event, ev); err != nil {
			return permanent(fmt.Errorf("the recorded event of this execution is unreadable: %w", err))
		}
	} else {
		var err error
		ev, err = d.readEvent(ctx, s, job, ns)
		if qrs.IsNotFound(err) {
			rep.Outcome, rep.Reason = OutcomeSkipped, "the app no longer exists on the site"
			return nil
		}
		if err != nil {
			return err
		}
	}
	rep.AppName = ev.App.Name
	rs := d.rules.Current()
	facts, err := engine.NewFacts(ev, rs.Config())
	if err != nil {
		return permanent(err)
	}
	rep.Kinds = facts.Event.Kinds

	if !resumed {
		if reason := d.skipReason(job, ev, facts, begun.Evaluated); reason != "" {
			rep.Outcome, rep.Reason = OutcomeSkipped, reason
			return nil
		}
	}

	if !resumed {
		raw, err := json.MarshalIndent(ev, "", "  ")
		if err != nil {
			return permanent(err)
		}
		if rep.EventFile, err = d.saveEvent(job, raw); err != nil {
			log.Error("could not save the recorded event", "err", err)
		}
		if err := d.store.SaveEvent(ctx, job.ExecutionID, raw, ev.App.Name, facts.Event.Kinds, rs.Revision); err != nil {
			return err
		}
	} else {
		rep.EventFile = d.eventPath(job)
	}

	defer d.progress.clear(job.ExecutionID)
	cp := &checkpoints{ctx: context.WithoutCancel(ctx), st: d.store, id: job.ExecutionID, log: log}
	report, err := rs.Execute(ctx, facts, d.acts, engine.ExecOptions{
		ExecutionID: job.ExecutionID,
		Checkpoints: cp,
		Log:         log.With("revision", rs.Revision),
		OnStep:      func(sr engine.StepReport) { d.auditStep(job, rs.Revision, sr) },
		Progress: func(step, format string, args ...any) {
			detail := fmt.Sprintf(format, args...)
			d.progress.set(job.ExecutionID, step, detail, d.now()) // the console's overview
			log.Info("progress", "step", step, "detail", detail)
		},
		// Not the last attempt: a step that fails transiently makes the
		// whole execution run again later, resuming from its checkpoints.
		RetryTransient: retry,
	})
	rep.Report = report
	if err != nil {
		return err
	}
	switch {
	case report.Failed():
		rep.Outcome = OutcomeFailed
	case matched(report):
		rep.Outcome = OutcomeActed
	default:
		rep.Outcome = OutcomeNoMatch
	}
	fin.Evaluated = &store.AppState{Modified: ev.App.ModifiedDate, Kinds: facts.Event.Kinds}
	return nil
}

// readEvent reads what QRS says now about the app, its stream and owner
// (ReadEvent), as the notifications of this execution announced it.
func (d *Daemon) readEvent(ctx context.Context, s *site, job store.Job, ns []store.Notification) (*engine.Event, error) {
	var receivedAt time.Time
	var changes []qrs.ChangeInfo
	forced, notified := "", false
	for _, n := range ns {
		if receivedAt.IsZero() || n.ReceivedAt.Before(receivedAt) {
			receivedAt = n.ReceivedAt
		}
		if n.Kind != "" {
			forced = n.Kind
		} else {
			notified = true
		}
		if n.Change == nil {
			continue
		}
		var c qrs.ChangeInfo
		if err := json.Unmarshal(n.Change, &c); err != nil {
			return nil, permanent(fmt.Errorf("a recorded notification is unreadable: %w", err))
		}
		changes = append(changes, c)
	}
	ev, err := ReadEvent(ctx, s.client, job.Site, job.AppID)
	if err != nil {
		return nil, classify(err)
	}
	ev.ReceivedAt, ev.Notification = receivedAt, changes
	if !notified {
		// Only catch-up asked: the event is "reconciled", with the reload
		// or publish catch-up saw (see missedChange) as its notification.
		ev.Kind = forced
	}
	if ev.ReceivedAt.IsZero() {
		ev.ReceivedAt = d.now()
	}
	return ev, nil
}

// skipReason says why an app state must not be evaluated ("" to evaluate):
// the last change was the daemon's own write (evaluating it again is how
// loops start), or this very state was already evaluated for these kinds
// (duplicate notifications, catch-up overlapping a notification). last is
// the state last evaluated (nil: never), as Begin read it.
func (d *Daemon) skipReason(job store.Job, ev *engine.Event, f *engine.Facts, last *store.AppState) string {
	var m string
	var kinds []string
	if last != nil {
		m, kinds = last.Modified, last.Kinds
	}
	if by := ev.App.ModifiedByUserName; by != "" && accountName(by) == d.ownUser {
		other := othersChange(ev, m)
		if other == "" {
			return fmt.Sprintf("the last change was the daemon's own (modified by %s)", by)
		}
		d.log.Info("evaluating despite the daemon's own last write: it was made on top of someone else's change",
			"execution_id", job.ExecutionID, "site", job.Site, "app_id", job.AppID, "change_at", other)
	}
	if last == nil || m != ev.App.ModifiedDate {
		return ""
	}
	if ev.Kind == engine.KindReconciled {
		return "this app state (modifiedDate " + m + ") was already evaluated"
	}
	for _, k := range f.Event.Kinds {
		if !slices.Contains(kinds, k) {
			return ""
		}
	}
	return "this app state (modifiedDate " + m + ") was already evaluated for " + strings.Join(f.Event.Kinds, ", ")
}

// othersChange returns the modifiedDate of a notified change that the
// daemon's own last write does not explain ("" when there is none): newer
// than the state last evaluated (evaluated) and older than the app's state
// now. The daemon's writes re-read the app first (qrs.Client.UpdateApp), so
// a change someone made while an execution ran is carried by the daemon's
// write, and the app then looks like the daemon's own change.
func othersChange(ev *engine.Event, evaluated string) string {
	now, seen := qrs.ParseTime(ev.App.ModifiedDate), qrs.ParseTime(evaluated)
	for _, c := range ev.Notification {
		t := qrs.ParseTime(c.ModifiedDate)
		if t.IsZero() || !t.Before(now) || (!seen.IsZero() && !t.After(seen)) {
			continue
		}
		return c.ModifiedDate
	}
	return ""
}

// eventPath is where an execution's recorded event is saved.
func (d *Daemon) eventPath(job store.Job) string {
	day := job.ExecutionID
	if len(day) >= 8 {
		day = day[:4] + "-" + day[4:6] + "-" + day[6:8]
	}
	return filepath.Join(d.cfg.StateDir, "events", day, job.ExecutionID+".json")
}

func (d *Daemon) saveEvent(job store.Job, raw []byte) (string, error) {
	path := d.eventPath(job)
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return "", err
	}
	return path, os.WriteFile(path, append(raw, '\n'), 0o640)
}

func matched(r *engine.Report) bool {
	for _, p := range r.Policies {
		if p.Matched {
			return true
		}
	}
	return false
}

func reportSummary(r *engine.Report) string {
	var names []string
	for _, p := range r.Policies {
		if p.Matched {
			names = append(names, p.Name)
		}
	}
	if len(names) == 0 {
		return "no policy matched"
	}
	return "matched: " + strings.Join(names, ", ")
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// permanentError marks an error not worth retrying.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

func permanent(err error) error { return permanentError{err} }

func isPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}

// classify marks QRS answers that retrying cannot fix (a 4xx other than
// 404, which callers handle, 408 and 429) as permanent.
func classify(err error) error {
	var qe *qrs.Error
	if errors.As(err, &qe) && qe.Status >= 400 && qe.Status < 500 && qe.Status != 404 && qe.Status != 408 && qe.Status != 429 {
		return permanent(err)
	}
	return err
}

// decisionRecord is the audit record of an execution attempt's decision.
func (d *Daemon) decisionRecord(rep ExecutionReport, ns []store.Notification) auditDecision {
	rec := auditDecision{Time: d.now().UTC(), Type: "decision", ExecutionID: rep.ExecutionID, Attempt: rep.Attempt,
		Site: rep.Site, AppID: rep.AppID, AppName: rep.AppName, Kinds: rep.Kinds, Outcome: rep.Outcome, Reason: rep.Reason,
		Duration: rep.Duration.Seconds(), Event: rep.EventFile, Notified: len(ns), NextAttempt: rep.NextAttempt}
	if r := rep.Report; r != nil {
		rec.Revision = r.Revision
		for _, p := range r.Policies {
			rec.Policies = append(rec.Policies, auditPolicy{Name: p.Name, Matched: p.Matched, Reason: p.Reason, Error: p.Err})
		}
	}
	for _, n := range ns {
		var c qrs.ChangeInfo
		if n.Change != nil && json.Unmarshal(n.Change, &c) == nil {
			for _, p := range c.ChangedProperties {
				if !slices.Contains(rec.Changed, p) {
					rec.Changed = append(rec.Changed, p)
				}
			}
		}
	}
	return rec
}

// storedAudit is a decision record as the store keeps it, searchable by
// its app, outcome and matched policies.
func storedAudit(rec auditDecision) store.AuditRecord {
	raw, _ := json.Marshal(rec)
	out := store.AuditRecord{Time: rec.Time, Type: rec.Type, ExecutionID: rec.ExecutionID, Site: rec.Site, AppID: rec.AppID,
		AppName: rec.AppName, User: rec.ModifiedBy, Outcome: rec.Outcome, Record: raw}
	for _, p := range rec.Policies {
		if p.Matched {
			out.Policies = append(out.Policies, p.Name)
		}
	}
	return out
}

func matchedNames(r *engine.Report) []string {
	var names []string
	for _, p := range r.Policies {
		if p.Matched {
			names = append(names, p.Name)
		}
	}
	return names
}

func (d *Daemon) auditStep(job store.Job, revision string, sr engine.StepReport) {
	d.metrics.stepDuration.WithLabelValues(sr.Action, string(sr.Result.Status)).Observe(sr.Duration.Seconds())
	rec := auditStep{Time: d.now().UTC(), Type: "step", ExecutionID: job.ExecutionID, Site: job.Site, AppID: job.AppID,
		Revision: revision, Policy: sr.Policy, Step: sr.ID, Action: sr.Action, Params: sr.Params, Status: string(sr.Result.Status),
		Summary: sr.Result.Summary, Details: sr.Result.Details, Error: sr.Err, Resumed: sr.Resumed, Duration: sr.Duration.Seconds()}
	d.writeAudit(rec)
	raw, _ := json.Marshal(rec)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := d.store.AppendAudit(ctx, store.AuditRecord{Time: rec.Time, Type: rec.Type, ExecutionID: rec.ExecutionID, Site: rec.Site,
		AppID: rec.AppID, Policies: []string{rec.Policy}, Outcome: rec.Status, Action: rec.Action, Record: raw}); err != nil {
		d.log.Error("could not store a step's audit record (the audit file has it)", "execution_id", job.ExecutionID, "step", sr.ID, "err", err)
	}
}

func (d *Daemon) writeAudit(rec any) {
	if err := d.audit.Write(rec); err != nil {
		d.metrics.auditErrors.Inc()
		// The record goes to the log instead: misplaced, not lost.
		raw, _ := json.Marshal(rec)
		d.log.Error("AUDIT RECORD NOT WRITTEN; readiness fails until writes succeed", "err", err, "record", string(raw))
	}
}

// checkpoints is engine.Checkpoints on the store, for one execution.
type checkpoints struct {
	ctx context.Context
	st  *store.Store
	id  string
	log *slog.Logger
}

func (c *checkpoints) Load(key string) (engine.Result, bool) {
	raw, ok, err := c.st.Checkpoint(c.ctx, c.id, key)
	if err != nil {
		c.log.Error("cannot read a step checkpoint; the step runs again (actions are idempotent per execution)", "step", key, "err", err)
		return engine.Result{}, false
	}
	if !ok {
		return engine.Result{}, false
	}
	var r engine.Result
	if err := json.Unmarshal(raw, &r); err != nil {
		c.log.Error("unreadable step checkpoint; the step runs again", "step", key, "err", err)
		return engine.Result{}, false
	}
	return r, true
}

func (c *checkpoints) Save(key string, r engine.Result) error {
	raw, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return c.st.SaveCheckpoint(c.ctx, c.id, key, raw)
}

func (c *checkpoints) Journal(key string) engine.Journal {
	return &journal{c: c, key: key}
}

type journal struct {
	c   *checkpoints
	key string
}

func (j *journal) Get(k string) (string, bool) {
	v, ok, err := j.c.st.JournalGet(j.c.ctx, j.c.id, j.key, k)
	if err != nil {
		j.c.log.Error("cannot read the step journal", "step", j.key, "err", err)
		return "", false
	}
	return v, ok
}

func (j *journal) Put(k, v string) error { return j.c.st.JournalPut(j.c.ctx, j.c.id, j.key, k, v) }
