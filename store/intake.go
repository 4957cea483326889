package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"
)

// Notification is one change to evaluate: an ExternalChangeInfo from a
// callback, or a reconciled app found by catch-up.
type Notification struct {
	Site       string
	AppID      string
	Kind       string          // a forced event kind ("reconciled"); "" for a QRS notification
	Change     json.RawMessage // the ExternalChangeInfo as received; for reconciled, what catch-up saw (or nil)
	ReceivedAt time.Time       // set by Record when zero
}

// Recorded says what Record did with a batch.
type Recorded struct {
	Jobs      int // evaluations scheduled
	Coalesced int // notifications merged into an evaluation already waiting
}

// ErrClosed is returned by Record once the store is closing.
var ErrClosed = errors.New("store: closing")

type recordReq struct {
	ns   []Notification
	done chan recordRes
}

type recordRes struct {
	rec Recorded
	err error
}

// evaluateArgs is the River job: evaluate one app. The execution id is
// chosen at insert, so all attempts of the job share it.
type evaluateArgs struct {
	Site        string `json:"site"`
	AppID       string `json:"app_id"`
	ExecutionID string `json:"execution_id"`
}

func (evaluateArgs) Kind() string { return "qsp_evaluate" }

type evaluateWorker struct {
	river.WorkerDefaults[evaluateArgs]
	work WorkFunc
	s    *Store
}

func (w *evaluateWorker) Work(ctx context.Context, j *river.Job[evaluateArgs]) error {
	defer w.s.heartbeat(j.ID)()
	return w.work(ctx, Job{ID: j.ID, ExecutionID: j.Args.ExecutionID, Site: j.Args.Site, AppID: j.Args.AppID,
		Attempt: j.Attempt, MaxAttempts: j.MaxAttempts, CreatedAt: j.CreatedAt})
}

// heartbeat keeps a job's attempted_at fresh while this process works it,
// until the returned stop is called. River's rescuer retries jobs "running"
// for longer than RescueAfter: without the heartbeat it would start a
// second attempt of a long promotion (or of a job waiting for its app's
// previous execution) that is alive and well, and each rescue would tie up
// another worker. With it, only jobs whose process is gone are rescued.
func (s *Store) heartbeat(jobID int64) (stop func()) {
	done, ended := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(ended)
		t := time.NewTicker(max(s.opts.RescueAfter/4, 10*time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			ctx, cancel := context.WithTimeout(context.Background(), s.opts.RescueAfter/2)
			_, err := s.stmts.heartbeat.ExecContext(ctx, jobID)
			cancel()
			if err != nil {
				s.opts.Log.Warn("could not mark a running execution alive; it may be retried while it runs", "job_id", jobID, "err", err)
			}
		}
	}()
	return func() { close(done); <-ended }
}

// Record stores notifications durably: when it returns nil, they are
// committed to disk and an evaluation of each app is scheduled (a new one,
// or one already waiting that they join: that is coalescing). Concurrent
// calls are committed together in one transaction (group commit), so intake
// throughput does not stop at one fsync per callback.
func (s *Store) Record(ctx context.Context, ns []Notification) (Recorded, error) {
	req := &recordReq{ns: ns, done: make(chan recordRes, 1)}
	select {
	case s.intake <- req:
	case <-s.quit:
		return Recorded{}, ErrClosed
	case <-ctx.Done():
		return Recorded{}, ctx.Err()
	}
	// Once queued, the request is committed or failed by the intake loop;
	// wait for the answer even if ctx ends, so no caller is told "not
	// recorded" about a notification that was. The queue is buffered, so a
	// request can also land after the loop ended: it was not recorded.
	select {
	case res := <-req.done:
		return res.rec, res.err
	case <-s.stopped:
		select {
		case res := <-req.done: // answered just before the loop ended
			return res.rec, res.err
		default:
			return Recorded{}, ErrClosed
		}
	}
}

const maxBatch = 512

func (s *Store) intakeLoop() {
	defer close(s.stopped)
	for {
		var first *recordReq
		select {
		case first = <-s.intake:
		case <-s.quit:
			for {
				select {
				case r := <-s.intake:
					r.done <- recordRes{err: ErrClosed}
				default:
					return
				}
			}
		}
		batch := []*recordReq{first}
	more:
		for len(batch) < maxBatch {
			select {
			case r := <-s.intake:
				batch = append(batch, r)
			default:
				break more
			}
		}
		recs, err := s.commit(batch)
		for i, r := range batch {
			if err != nil {
				r.done <- recordRes{err: err}
			} else {
				r.done <- recordRes{rec: recs[i]}
			}
		}
	}
}

// liveStates are the River states of a job that has not yet claimed its
// notifications (or is about to): a new notification can join it.
const liveStates = `('available', 'scheduled', 'retryable', 'running', 'pending')`

func (s *Store) commit(batch []*recordReq) ([]Recorded, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("record notifications: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	if !s.dia.exclusive() {
		var keys []string
		for _, r := range batch {
			for _, n := range r.ns {
				keys = append(keys, n.Site+"/"+n.AppID)
			}
		}
		if err := s.dia.lockApps(ctx, tx, keys); err != nil {
			return nil, fmt.Errorf("record notifications: %w", err)
		}
	}
	insertEvent := tx.StmtContext(ctx, s.stmts.insertEvent)
	recs := make([]Recorded, len(batch))
	ensured := map[[2]string]waiting{}
	now := s.now().UTC()
	for i, r := range batch {
		for _, n := range r.ns {
			at := n.ReceivedAt
			if at.IsZero() {
				at = now
			}
			var change any
			if n.Change != nil {
				change = string(n.Change)
			}
			if _, err := insertEvent.ExecContext(ctx, n.Site, n.AppID, n.Kind, change, s.dia.timeArg(at)); err != nil {
				return nil, fmt.Errorf("record notification: %w", err)
			}
			key := [2]string{n.Site, n.AppID}
			prio := jobPriority(n)
			if w, ok := ensured[key]; ok {
				if prio < w.priority {
					if err := s.raise(ctx, tx, w.job, prio); err != nil {
						return nil, err
					}
					ensured[key] = waiting{w.job, prio}
				}
				recs[i].Coalesced++
				continue
			}
			w, created, err := s.ensureJob(ctx, tx, n.Site, n.AppID, prio, now)
			if err != nil {
				return nil, err
			}
			ensured[key] = w
			if created {
				recs[i].Jobs++
			} else {
				recs[i].Coalesced++
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("record notifications: %w", err)
	}
	return recs, nil
}

// Job priorities (River's: 1 runs first): an evaluation a QRS notification
// asked for runs ahead of those catch-up queued, so that an approval made
// now is not queued behind thousands of reconciled apps.
const (
	priorityLive       = river.PriorityDefault
	priorityReconciled = river.PriorityDefault + 1
)

func jobPriority(n Notification) int {
	if n.Kind == "" {
		return priorityLive
	}
	return priorityReconciled
}

// waiting is the evaluation scheduled for an app, with its priority.
type waiting struct {
	job      int64
	priority int
}

// ensureJob makes sure an evaluation of the app is waiting, at priority or
// ahead of it; it reports whether it had to create one.
func (s *Store) ensureJob(ctx context.Context, tx *sql.Tx, site, app string, priority int, now time.Time) (waiting, bool, error) {
	var w waiting
	err := tx.StmtContext(ctx, s.stmts.livePending).QueryRowContext(ctx, site, app).Scan(&w.job, &w.priority)
	switch {
	case err == nil:
		if priority < w.priority {
			if err := s.raise(ctx, tx, w.job, priority); err != nil {
				return w, false, err
			}
			w.priority = priority
		}
		return w, false, nil
	case !errors.Is(err, sql.ErrNoRows):
		return w, false, fmt.Errorf("look up waiting evaluation: %w", err)
	}
	id := newExecutionID(now)
	res, err := s.river.InsertTx(ctx, tx, evaluateArgs{Site: site, AppID: app, ExecutionID: id}, &river.InsertOpts{Priority: priority})
	if err != nil {
		return w, false, fmt.Errorf("schedule evaluation: %w", err)
	}
	if _, err := tx.StmtContext(ctx, s.stmts.insertPending).ExecContext(ctx, site, app, res.Job.ID, id); err != nil {
		return w, false, fmt.Errorf("schedule evaluation: %w", err)
	}
	return waiting{res.Job.ID, priority}, true, nil
}

// raise moves a waiting evaluation ahead: a notification joined one that
// catch-up had queued.
func (s *Store) raise(ctx context.Context, tx *sql.Tx, job int64, priority int) error {
	if _, err := tx.StmtContext(ctx, s.stmts.raisePriority).ExecContext(ctx, priority, job); err != nil {
		return fmt.Errorf("reprioritise the waiting evaluation: %w", err)
	}
	return nil
}

// statements are the intake's hot statements, prepared once: SQLite
// compiled from C to Go spends much of a small statement's time parsing it.
type statements struct {
	insertEvent, livePending, insertPending, raisePriority, heartbeat *sql.Stmt
}

func (s *Store) prepare(ctx context.Context) error {
	var err error
	prep := func(q string) *sql.Stmt {
		if err != nil {
			return nil
		}
		var st *sql.Stmt
		st, err = s.db.PrepareContext(ctx, s.dia.rebind(q))
		return st
	}
	s.stmts.insertEvent = prep(`INSERT INTO qsp_event (site, app_id, kind, change, received_at) VALUES (?, ?, ?, ?, ?)`)
	s.stmts.livePending = prep(`SELECT j.id, j.priority FROM qsp_pending_app p JOIN river_job j ON j.id = p.job_id
		WHERE p.site = ? AND p.app_id = ? AND j.state IN ` + liveStates)
	s.stmts.raisePriority = prep(`UPDATE river_job SET priority = ? WHERE id = ?`)
	s.stmts.insertPending = prep(`INSERT INTO qsp_pending_app (site, app_id, job_id, execution_id) VALUES (?, ?, ?, ?)
		ON CONFLICT (site, app_id) DO UPDATE SET job_id = excluded.job_id, execution_id = excluded.execution_id`)
	s.stmts.heartbeat = prep(`UPDATE river_job SET attempted_at = ` + s.dia.riverNow() + ` WHERE id = ? AND state = 'running'`)
	if err != nil {
		return fmt.Errorf("prepare statements: %w", err)
	}
	return nil
}

// OldestWaiting returns when the oldest notification still waiting for the
// app (not yet claimed) was received; ok is false when none waits.
func (s *Store) OldestWaiting(ctx context.Context, site, app string) (t time.Time, ok bool, err error) {
	var at dbTime
	err = s.db.QueryRowContext(ctx, s.dia.rebind(`SELECT min(received_at) FROM qsp_event WHERE site = ? AND app_id = ? AND execution_id IS NULL`),
		site, app).Scan(&at)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("look up waiting notifications: %w", err)
	}
	return at.Time, at.Valid, nil
}

// claim gives the job the notifications it evaluates. On the job's first
// run it takes every notification waiting for the app and closes the app's
// waiting slot, so later notifications schedule a new evaluation; on a retry
// it returns the same notifications as the first run.
func (s *Store) claim(ctx context.Context, tx *sql.Tx, job Job) ([]Notification, error) {
	if err := s.dia.lockApps(ctx, tx, []string{job.Site + "/" + job.AppID}); err != nil {
		return nil, err
	}
	res, err := tx.ExecContext(ctx, s.dia.rebind(`DELETE FROM qsp_pending_app WHERE site = ? AND app_id = ? AND execution_id = ?`),
		job.Site, job.AppID, job.ExecutionID)
	if err != nil {
		return nil, err
	}
	if n, _ := res.RowsAffected(); n > 0 {
		if _, err := tx.ExecContext(ctx, s.dia.rebind(`UPDATE qsp_event SET execution_id = ? WHERE site = ? AND app_id = ? AND execution_id IS NULL`),
			job.ExecutionID, job.Site, job.AppID); err != nil {
			return nil, err
		}
	}
	rows, err := tx.QueryContext(ctx, s.dia.rebind(`SELECT site, app_id, kind, change, received_at FROM qsp_event WHERE execution_id = ? ORDER BY id`),
		job.ExecutionID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Notification
	for rows.Next() {
		var n Notification
		var change sql.NullString
		var at dbTime
		if err := rows.Scan(&n.Site, &n.AppID, &n.Kind, &change, &at); err != nil {
			return nil, err
		}
		if change.Valid {
			n.Change = json.RawMessage(change.String)
		}
		n.ReceivedAt = at.Time
		out = append(out, n)
	}
	return out, rows.Err()
}

// Times are stored as fixed-width UTC text so that they sort as text.
const timeLayout = "2006-01-02T15:04:05.000000000Z"

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

func parseTime(s string) (time.Time, error) { return time.Parse(timeLayout, s) }
