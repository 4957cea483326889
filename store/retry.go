package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// What the store keeps of executions that wait for another attempt: when
// it comes (River's retry policy, here), why they wait, and an admin's
// request to run a failed one again.

// The default delays between attempts of an execution: DefaultRetryDelay
// after the first failed one, doubling up to MaxRetryDelay.
const (
	DefaultRetryDelay = 10 * time.Second
	MaxRetryDelay     = 10 * time.Minute
)

// ExponentialDelay is the default Options.RetryDelay: 10s after the first
// failed attempt, doubling up to 10 minutes.
func ExponentialDelay(attempt int) time.Duration {
	d := DefaultRetryDelay
	for i := 1; i < attempt && d < MaxRetryDelay; i++ {
		d *= 2
	}
	return min(d, MaxRetryDelay)
}

// RetryAt says when a failed attempt of job (its Attempt) is tried again:
// Options.RetryDelay after now, give or take 10%, so that executions that
// failed together (a site that was down) do not all come back at once. The
// spread is drawn from the job and its attempt, so that this answer and
// River's agree.
func (s *Store) RetryAt(job Job, now time.Time) time.Time {
	return now.Add(s.retryDelay(job.ID, job.Attempt))
}

func (s *Store) retryDelay(jobID int64, attempt int) time.Duration {
	d := s.opts.RetryDelay(attempt)
	h := fnv.New64a()
	fmt.Fprintf(h, "%d/%d", jobID, attempt)
	spread := float64(h.Sum64()%2001)/10000 - 0.1 // -10% … +10%
	return d + time.Duration(float64(d)*spread)
}

// retryPolicy is River's retry policy: RetryAt.
type retryPolicy struct{ s *Store }

func (p retryPolicy) NextRetry(job *rivertype.JobRow) time.Time {
	return time.Now().Add(p.s.retryDelay(job.ID, job.Attempt))
}

var _ river.ClientRetryPolicy = retryPolicy{}

// Wait records that an execution waits without using an attempt (a site it
// needs is down), with the reason; it reports whether the execution was
// recorded as waiting already, so that a long wait is recorded once and
// not at every check.
func (s *Store) Wait(ctx context.Context, job Job, reason string) (already bool, err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("record a waiting execution: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	var state string
	err = tx.QueryRowContext(ctx, s.dia.rebind(`SELECT state FROM qsp_execution WHERE id = ?`), job.ExecutionID).Scan(&state)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return false, fmt.Errorf("record a waiting execution: %w", err)
	}
	if state == StateWaiting {
		return true, nil
	}
	now := s.dia.timeArg(s.now())
	if _, err := tx.ExecContext(ctx, s.dia.rebind(`INSERT INTO qsp_execution (id, job_id, site, app_id, state, started_at, finished_at, error)
		VALUES (?, ?, ?, ?, 'waiting', ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET state = 'waiting', finished_at = excluded.finished_at, error = excluded.error`),
		job.ExecutionID, job.ID, job.Site, job.AppID, now, now, reason); err != nil {
		return false, fmt.Errorf("record a waiting execution: %w", err)
	}
	return false, tx.Commit()
}

// The execution states of the store's own making (the others are the
// daemon's outcomes, and running).
const (
	StateRetrying = "retrying" // an attempt failed transiently: the next one comes after a delay
	StateWaiting  = "waiting"  // a site it needs is down: it waits without using attempts
	StateFailed   = "failed"   // failed for good
)

// WaitingExecution is an execution waiting for its next attempt.
type WaitingExecution struct {
	ID          string    `json:"id"`
	Site        string    `json:"site"`
	AppID       string    `json:"app_id"`
	AppName     string    `json:"app_name,omitempty"`
	State       string    `json:"state"` // retrying or waiting
	Attempts    int       `json:"attempts"`
	MaxAttempts int       `json:"max_attempts"`
	NextAttempt time.Time `json:"next_attempt"`
	LastError   string    `json:"last_error,omitempty"`
	StartedAt   time.Time `json:"started_at"`
}

// WaitingExecutions lists the executions waiting for their next attempt
// (after a transient failure, or for a site to come back), soonest first.
func (s *Store) WaitingExecutions(ctx context.Context, limit int) ([]WaitingExecution, error) {
	rows, err := s.db.QueryContext(ctx, s.dia.rebind(`SELECT e.id, e.site, e.app_id, e.app_name, e.state, e.error, e.started_at,
		j.scheduled_at, j.attempt, j.max_attempts
		FROM qsp_execution e JOIN river_job j ON j.id = e.job_id
		WHERE e.state IN ('retrying', 'waiting') AND j.state IN ('available', 'scheduled', 'retryable')
		ORDER BY j.scheduled_at, e.id LIMIT ?`), pageLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("list waiting executions: %w", err)
	}
	defer rows.Close()
	var out []WaitingExecution
	for rows.Next() {
		var w WaitingExecution
		var started, next dbTime
		if err := rows.Scan(&w.ID, &w.Site, &w.AppID, &w.AppName, &w.State, &w.LastError, &started, &next, &w.Attempts, &w.MaxAttempts); err != nil {
			return nil, fmt.Errorf("list waiting executions: %w", err)
		}
		w.StartedAt, w.NextAttempt = started.Time, next.Time
		out = append(out, w)
	}
	return out, rows.Err()
}

// EarlierQueued reports whether an earlier evaluation of the job's app is
// still queued (waiting for its next attempt, due, or running), and when
// the soonest of them is due. An evaluation waits for those before it:
// one that retries has not yet recorded the app state it evaluated, and a
// later one would act on the same change a second time.
func (s *Store) EarlierQueued(ctx context.Context, job Job) (due time.Time, ok bool, err error) {
	var n int
	var at dbTime
	err = s.db.QueryRowContext(ctx, s.dia.rebind(`SELECT count(*), min(scheduled_at) FROM river_job
		WHERE kind = ? AND id < ? AND state IN `+liveStates+` AND `+s.dia.jobArg("site")+` = ? AND `+s.dia.jobArg("app_id")+` = ?`),
		evaluateArgs{}.Kind(), job.ID, job.Site, job.AppID).Scan(&n, &at)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("look up earlier evaluations: %w", err)
	}
	return at.Time, n > 0, nil
}

// unfinished says an execution's state is that of one still on its way
// (running, interrupted, retrying, waiting): with its job gone from the
// queue, it will never end by itself.
func unfinished(state string) bool {
	switch state {
	case "running", "interrupted", StateRetrying, StateWaiting:
		return true
	}
	return false
}

// ErrNoExecution is returned for an execution ID the store does not know.
var ErrNoExecution = errors.New("no such execution")

// NotFailedError refuses to run again an execution that did not fail.
type NotFailedError struct {
	ID    string
	State string // the execution's state
	Queue string // its job's queue state when it is still queued, else ""
}

func (e *NotFailedError) Error() string {
	if e.Queue != "" {
		return fmt.Sprintf("execution %s is still queued (%s, job %s): only a failed execution can be retried", e.ID, e.State, e.Queue)
	}
	return fmt.Sprintf("execution %s ended %s: only a failed execution can be retried", e.ID, e.State)
}

// Requeue puts a failed execution back in the queue, with a fresh set of
// attempts, to run now: the same execution (same ID, event, checkpoints
// and journals), so that its finished steps are not run again. It returns
// the execution as recorded. An execution whose job left the queue without
// an end recorded (the queue gave it up while the database failed, say) is
// taken as failed: it can be run again too. Two requeues at once queue it
// once: the second is refused.
func (s *Store) Requeue(ctx context.Context, id string, attempts int) (*Execution, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("requeue execution: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	var state, site, app string
	var queue sql.NullString
	var jobID sql.NullInt64
	err = tx.QueryRowContext(ctx, s.dia.rebind(`SELECT e.state, e.site, e.app_id, e.job_id, j.state FROM qsp_execution e
		LEFT JOIN river_job j ON j.id = e.job_id WHERE e.id = ?`), id).Scan(&state, &site, &app, &jobID, &queue)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("execution %s: %w", id, ErrNoExecution)
	}
	if err != nil {
		return nil, fmt.Errorf("requeue execution: %w", err)
	}
	switch queue.String {
	case "available", "scheduled", "retryable", "running", "pending":
		return nil, &NotFailedError{ID: id, State: state, Queue: queue.String}
	}
	if !unfinished(state) && state != StateFailed {
		return nil, &NotFailedError{ID: id, State: state}
	}
	if err := s.dia.lockApps(ctx, tx, []string{site + "/" + app}); err != nil {
		return nil, fmt.Errorf("requeue execution: %w", err)
	}
	// Claim the execution first, as it was read (its state and job): a
	// concurrent requeue (another replica, the command line) blocks on the
	// row and then finds it claimed, with another job.
	claim, err := tx.ExecContext(ctx, s.dia.rebind(`UPDATE qsp_execution SET state = 'retrying', finished_at = ?, summary = ?
		WHERE id = ? AND state = ? AND coalesce(job_id, 0) = ?`),
		s.dia.timeArg(s.now()), "queued again by an admin", id, state, jobID.Int64)
	if err != nil {
		return nil, fmt.Errorf("requeue execution: %w", err)
	}
	if n, err := claim.RowsAffected(); err != nil || n != 1 {
		return nil, &NotFailedError{ID: id, State: StateRetrying, Queue: "queued again by another request"}
	}
	res, err := s.river.InsertTx(ctx, tx, evaluateArgs{Site: site, AppID: app, ExecutionID: id}, &river.InsertOpts{MaxAttempts: max(attempts, 1)})
	if err != nil {
		return nil, fmt.Errorf("requeue execution: %w", err)
	}
	if _, err := tx.ExecContext(ctx, s.dia.rebind(`UPDATE qsp_execution SET job_id = ? WHERE id = ?`), res.Job.ID, id); err != nil {
		return nil, fmt.Errorf("requeue execution: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("requeue execution: %w", err)
	}
	return s.Execution(ctx, id)
}
