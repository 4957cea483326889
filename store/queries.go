package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Execution is the record of one evaluation of one app.
type Execution struct {
	ID         string          `json:"id"`
	JobID      int64           `json:"job_id"`
	Site       string          `json:"site"`
	AppID      string          `json:"app_id"`
	AppName    string          `json:"app_name,omitempty"`
	State      string          `json:"state"` // running, then the outcome (acted, no_match, failed, skipped), retrying or interrupted
	StartedAt  time.Time       `json:"started_at"`
	FinishedAt time.Time       `json:"finished_at,omitzero"`
	Revision   string          `json:"revision,omitempty"`
	Kinds      []string        `json:"kinds,omitempty"`
	Policies   []string        `json:"policies,omitempty"` // the policies that matched
	Summary    string          `json:"summary,omitempty"`
	Error      string          `json:"error,omitempty"`
	Event      json.RawMessage `json:"-"` // the recorded event evaluated (kept for retries)
}

// AppState is the state of an app last evaluated: its modifiedDate and the
// event kinds it was evaluated for.
type AppState struct {
	Modified string
	Kinds    []string
}

// Begun is what an execution starts from (see Begin).
type Begun struct {
	Notifications []Notification
	// Execution is the execution's record; on a retry its Event is what
	// the first attempt evaluated, so the retry evaluates the same facts.
	Execution *Execution
	// Evaluated is the app state last evaluated; nil when the app never was.
	Evaluated *AppState
}

// Begin starts an execution in one transaction: it claims the
// notifications the job evaluates (on the first run every one waiting for
// the app, closing the app's waiting slot so later notifications schedule
// a new evaluation; on a retry the same ones as the first run), records the
// execution as running (or running again), and reads the app state last
// evaluated.
func (s *Store) Begin(ctx context.Context, job Job) (*Begun, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin execution: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	b := &Begun{}
	if b.Notifications, err = s.claim(ctx, tx, job); err != nil {
		return nil, fmt.Errorf("claim notifications: %w", err)
	}
	b.Execution, err = scanExecution(tx.QueryRowContext(ctx, s.dia.rebind(`INSERT INTO qsp_execution (id, job_id, site, app_id, state, started_at)
		VALUES (?, ?, ?, ?, 'running', ?)
		ON CONFLICT (id) DO UPDATE SET state = 'running', finished_at = NULL
		RETURNING `+executionColumns),
		job.ExecutionID, job.ID, job.Site, job.AppID, s.dia.timeArg(s.now())))
	if err != nil {
		return nil, fmt.Errorf("record execution: %w", err)
	}
	if b.Evaluated, err = s.evaluated(ctx, tx, job.Site, job.AppID); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("begin execution: %w", err)
	}
	return b, nil
}

// SaveEvent keeps the event an execution evaluates, with the app's name,
// the event's kinds and the rule-set revision it is evaluated with, before
// any step runs: a retry evaluates the same event.
func (s *Store) SaveEvent(ctx context.Context, id string, event []byte, appName string, kinds []string, revision string) error {
	_, err := s.db.ExecContext(ctx, s.dia.rebind(`UPDATE qsp_execution SET event = ?, app_name = ?, kinds = ?, revision = ? WHERE id = ?`),
		string(event), appName, strings.Join(kinds, ","), revision, id)
	if err != nil {
		return fmt.Errorf("record execution event: %w", err)
	}
	if appName != "" {
		_, err = s.db.ExecContext(ctx, s.dia.rebind(`INSERT INTO qsp_app_name (site, app_id, name) SELECT site, app_id, ? FROM qsp_execution WHERE id = ?
			ON CONFLICT DO NOTHING`), appName, id)
		if err != nil {
			return fmt.Errorf("record the app's name: %w", err)
		}
	}
	return nil
}

// Outcome is how an execution attempt ended (see Finish).
type Outcome struct {
	State    string // the outcome (acted, no_match, failed, skipped), retrying or interrupted
	Summary  string
	Error    string
	AppName  string   // "" keeps the name SaveEvent recorded
	Policies []string // the policies that matched
	// Evaluated, when set, is recorded as the app state last evaluated;
	// kinds of an earlier evaluation of the same state are kept (merged).
	Evaluated *AppState
	Audit     []AuditRecord // appended with the outcome (the decision record)
}

// Finish records, in one transaction, how an execution attempt ended: the
// app state it evaluated, its outcome and matched policies, and its audit
// records.
func (s *Store) Finish(ctx context.Context, job Job, o Outcome) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("record execution result: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck
	if o.Evaluated != nil {
		if err := s.setEvaluated(ctx, tx, job.Site, job.AppID, *o.Evaluated, job.ExecutionID); err != nil {
			return err
		}
	}
	matched, policies := uniq(o.Policies), ""
	if len(matched) > 0 {
		raw, _ := json.Marshal(matched)
		policies = string(raw)
	}
	_, err = tx.ExecContext(ctx, s.dia.rebind(`UPDATE qsp_execution SET state = ?, summary = ?, error = ?, finished_at = ?, policies = ?,
		app_name = CASE WHEN ? = '' THEN app_name ELSE ? END WHERE id = ?`),
		o.State, o.Summary, o.Error, s.dia.timeArg(s.now()), policies, o.AppName, o.AppName, job.ExecutionID)
	if err != nil {
		return fmt.Errorf("record execution result: %w", err)
	}
	if _, err := tx.ExecContext(ctx, s.dia.rebind(`DELETE FROM qsp_execution_policy WHERE execution_id = ?`), job.ExecutionID); err != nil {
		return fmt.Errorf("record execution result: %w", err)
	}
	for _, p := range matched {
		if _, err := tx.ExecContext(ctx, s.dia.rebind(`INSERT INTO qsp_execution_policy (policy, execution_id) VALUES (?, ?)`), p, job.ExecutionID); err != nil {
			return fmt.Errorf("record execution result: %w", err)
		}
	}
	if err := s.appendAudit(ctx, tx, o.Audit); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("record execution result: %w", err)
	}
	return nil
}

const executionColumns = `id, job_id, site, app_id, app_name, state, started_at, finished_at, revision, kinds, policies, event, summary, error`

func scanExecution(sc interface{ Scan(...any) error }) (*Execution, error) {
	var e Execution
	var started, finished dbTime
	var kinds, policies string
	var event sql.NullString
	if err := sc.Scan(&e.ID, &e.JobID, &e.Site, &e.AppID, &e.AppName, &e.State, &started, &finished, &e.Revision, &kinds, &policies, &event, &e.Summary, &e.Error); err != nil {
		return nil, err
	}
	e.StartedAt, e.FinishedAt = started.Time, finished.Time
	if kinds != "" {
		e.Kinds = strings.Split(kinds, ",")
	}
	if policies != "" {
		_ = json.Unmarshal([]byte(policies), &e.Policies)
	}
	if event.Valid {
		e.Event = json.RawMessage(event.String)
	}
	return &e, nil
}

// Execution reads one execution record, with its recorded event; nil when
// there is none.
func (s *Store) Execution(ctx context.Context, id string) (*Execution, error) {
	e, err := scanExecution(s.db.QueryRowContext(ctx, s.dia.rebind(`SELECT `+executionColumns+` FROM qsp_execution WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read execution: %w", err)
	}
	return e, nil
}

// Recent returns the latest executions, newest first, without their events.
func (s *Store) Recent(ctx context.Context, n int) ([]Execution, error) {
	return s.executions(ctx, `SELECT `+listColumns+` FROM qsp_execution ORDER BY started_at DESC, id DESC LIMIT ?`, n)
}

// listColumns are executionColumns without the (large) event.
const listColumns = `id, job_id, site, app_id, app_name, state, started_at, finished_at, revision, kinds, policies, NULL, summary, error`

// ExecutionsFor lists the executions of one app, oldest first, with their
// events (for tests and troubleshooting).
func (s *Store) ExecutionsFor(ctx context.Context, site, app string) ([]Execution, error) {
	return s.executions(ctx, `SELECT `+executionColumns+` FROM qsp_execution WHERE site = ? AND app_id = ? ORDER BY started_at, id`, site, app)
}

func (s *Store) executions(ctx context.Context, query string, args ...any) ([]Execution, error) {
	rows, err := s.db.QueryContext(ctx, s.dia.rebind(query), args...)
	if err != nil {
		return nil, fmt.Errorf("list executions: %w", err)
	}
	defer rows.Close()
	var out []Execution
	for rows.Next() {
		e, err := scanExecution(rows)
		if err != nil {
			return nil, fmt.Errorf("list executions: %w", err)
		}
		out = append(out, *e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list executions: %w", err)
	}
	return out, nil
}

// Checkpoint returns the saved result of a finished step.
func (s *Store) Checkpoint(ctx context.Context, execID, stepKey string) ([]byte, bool, error) {
	var result string
	err := s.db.QueryRowContext(ctx, s.dia.rebind(`SELECT result FROM qsp_checkpoint WHERE execution_id = ? AND step_key = ?`), execID, stepKey).Scan(&result)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read checkpoint: %w", err)
	}
	return []byte(result), true, nil
}

// SaveCheckpoint records a finished step's result.
func (s *Store) SaveCheckpoint(ctx context.Context, execID, stepKey string, result []byte) error {
	_, err := s.db.ExecContext(ctx, s.dia.rebind(`INSERT INTO qsp_checkpoint (execution_id, step_key, result, saved_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (execution_id, step_key) DO UPDATE SET result = excluded.result, saved_at = excluded.saved_at`),
		execID, stepKey, string(result), s.dia.timeArg(s.now()))
	if err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	return nil
}

// JournalGet reads a step's journal entry.
func (s *Store) JournalGet(ctx context.Context, execID, stepKey, key string) (string, bool, error) {
	var v string
	err := s.db.QueryRowContext(ctx, s.dia.rebind(`SELECT value FROM qsp_journal WHERE execution_id = ? AND step_key = ? AND key = ?`),
		execID, stepKey, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read step journal: %w", err)
	}
	return v, true, nil
}

// JournalPut writes a step's journal entry.
func (s *Store) JournalPut(ctx context.Context, execID, stepKey, key, value string) error {
	_, err := s.db.ExecContext(ctx, s.dia.rebind(`INSERT INTO qsp_journal (execution_id, step_key, key, value) VALUES (?, ?, ?, ?)
		ON CONFLICT (execution_id, step_key, key) DO UPDATE SET value = excluded.value`),
		execID, stepKey, key, value)
	if err != nil {
		return fmt.Errorf("write step journal: %w", err)
	}
	return nil
}

// Evaluated returns the app state last evaluated: its modifiedDate and the
// event kinds it was evaluated for; ok is false when it never was.
func (s *Store) Evaluated(ctx context.Context, site, app string) (modified string, kinds []string, ok bool, err error) {
	st, err := s.evaluated(ctx, s.db, site, app)
	if st == nil || err != nil {
		return "", nil, false, err
	}
	return st.Modified, st.Kinds, true, nil
}

// querier is what a *sql.DB and a *sql.Tx share.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (s *Store) evaluated(ctx context.Context, q querier, site, app string) (*AppState, error) {
	var st AppState
	var k string
	err := q.QueryRowContext(ctx, s.dia.rebind(`SELECT modified_date, kinds FROM qsp_app WHERE site = ? AND app_id = ?`), site, app).Scan(&st.Modified, &k)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read app state: %w", err)
	}
	if k != "" {
		st.Kinds = strings.Split(k, ",")
	}
	return &st, nil
}

// setEvaluated records the app state an execution evaluated. Kinds of
// earlier evaluations of the same state are kept (merged).
func (s *Store) setEvaluated(ctx context.Context, tx *sql.Tx, site, app string, st AppState, execID string) error {
	prev, err := s.evaluated(ctx, tx, site, app)
	if err != nil {
		return err
	}
	kinds := st.Kinds
	if prev != nil && prev.Modified == st.Modified {
		kinds = mergeKinds(prev.Kinds, kinds)
	}
	if prev != nil && olderState(st.Modified, prev.Modified) {
		// An older state evaluated late (an execution run again after newer
		// ones): the record of the newer state stays.
		return nil
	}
	_, err = tx.ExecContext(ctx, s.dia.rebind(`INSERT INTO qsp_app (site, app_id, modified_date, kinds, execution_id) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (site, app_id) DO UPDATE SET modified_date = excluded.modified_date, kinds = excluded.kinds, execution_id = excluded.execution_id`),
		site, app, st.Modified, strings.Join(kinds, ","), execID)
	if err != nil {
		return fmt.Errorf("record app state: %w", err)
	}
	return nil
}

// olderState reports that QRS modifiedDate a is before b (false when
// either cannot be read: then the newer evaluation's record is written).
func olderState(a, b string) bool {
	ta, errA := time.Parse(time.RFC3339Nano, a)
	tb, errB := time.Parse(time.RFC3339Nano, b)
	return errA == nil && errB == nil && ta.Before(tb)
}

func uniq(xs []string) []string { return mergeKinds(nil, xs) }

func mergeKinds(a, b []string) []string {
	out := append([]string(nil), a...)
	for _, k := range b {
		found := false
		for _, x := range out {
			found = found || x == k
		}
		if !found {
			out = append(out, k)
		}
	}
	return out
}

// SiteToken returns the secret of a site's callback URL, creating it on
// first use. It is kept across restarts so subscriptions made by an earlier
// run keep reaching the daemon until they are replaced.
func (s *Store) SiteToken(ctx context.Context, alias string) (string, error) {
	return s.siteToken(ctx, s.db, alias)
}

func (s *Store) siteToken(ctx context.Context, q querier, alias string) (string, error) {
	if _, err := q.ExecContext(ctx, s.dia.rebind(`INSERT INTO qsp_site (alias, token) VALUES (?, ?) ON CONFLICT (alias) DO NOTHING`), alias, NewToken()); err != nil {
		return "", fmt.Errorf("site token: %w", err)
	}
	var tok string
	if err := q.QueryRowContext(ctx, s.dia.rebind(`SELECT token FROM qsp_site WHERE alias = ?`), alias).Scan(&tok); err != nil {
		return "", fmt.Errorf("site token: %w", err)
	}
	return tok, nil
}

// Handles returns the subscription handles last recorded for a site.
func (s *Store) Handles(ctx context.Context, alias string) ([]string, error) {
	var raw string
	err := s.db.QueryRowContext(ctx, s.dia.rebind(`SELECT handles FROM qsp_site WHERE alias = ?`), alias).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read subscription handles: %w", err)
	}
	var hs []string
	if err := json.Unmarshal([]byte(raw), &hs); err != nil {
		return nil, fmt.Errorf("read subscription handles: %w", err)
	}
	return hs, nil
}

// SetHandles records a site's live subscription handles (so that a later
// run can delete them even after a crash).
func (s *Store) SetHandles(ctx context.Context, alias string, handles []string) error {
	return s.setHandles(ctx, nil, alias, handles)
}

func (s *Store) setHandles(ctx context.Context, fence *Lease, alias string, handles []string) error {
	if handles == nil {
		handles = []string{}
	}
	raw, _ := json.Marshal(handles)
	return s.fenced(ctx, fence, "record subscription handles", func(tx *sql.Tx) error {
		if _, err := s.siteToken(ctx, tx, alias); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, s.dia.rebind(`UPDATE qsp_site SET handles = ? WHERE alias = ?`), string(raw), alias)
		return err
	})
}

// CatchupMark returns the latest app modifiedDate catch-up has seen on a
// site (QRS's own timestamp text); "" before the first catch-up.
func (s *Store) CatchupMark(ctx context.Context, alias string) (string, error) {
	var mark string
	err := s.db.QueryRowContext(ctx, s.dia.rebind(`SELECT catchup_mark FROM qsp_site WHERE alias = ?`), alias).Scan(&mark)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read catch-up mark: %w", err)
	}
	return mark, nil
}

// SetCatchupMark records the catch-up mark of a site.
func (s *Store) SetCatchupMark(ctx context.Context, alias, mark string) error {
	return s.setCatchupMark(ctx, nil, alias, mark)
}

func (s *Store) setCatchupMark(ctx context.Context, fence *Lease, alias, mark string) error {
	return s.fenced(ctx, fence, "record catch-up mark", func(tx *sql.Tx) error {
		if _, err := s.siteToken(ctx, tx, alias); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, s.dia.rebind(`UPDATE qsp_site SET catchup_mark = ? WHERE alias = ?`), mark, alias)
		return err
	})
}

// QueueDepth counts evaluations by River state (available, scheduled,
// running, retryable, …); finished ones are not counted.
func (s *Store) QueueDepth(ctx context.Context) (map[string]int, error) {
	rows, err := s.db.QueryContext(ctx, s.dia.rebind(`SELECT state, count(*) FROM river_job WHERE kind = ? AND state IN `+liveStates+` GROUP BY state`),
		evaluateArgs{}.Kind())
	if err != nil {
		return nil, fmt.Errorf("queue depth: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("queue depth: %w", err)
		}
		out[st] = n
	}
	return out, rows.Err()
}

// Prune deletes executions (with their checkpoints, journals, matched
// policies and notifications) that finished before the given time, except
// those whose job is still queued: an execution interrupted by a shutdown
// resumes at the next start, however late, and its checkpoints keep it from
// redoing finished steps. Audit records are kept.
func (s *Store) Prune(ctx context.Context, before time.Time) (int64, error) {
	return s.prune(ctx, nil, before)
}

func (s *Store) prune(ctx context.Context, fence *Lease, before time.Time) (int64, error) {
	var n int64
	err := s.fenced(ctx, fence, "prune", func(tx *sql.Tx) error {
		cut := s.dia.timeArg(before)
		old := `SELECT id FROM qsp_execution WHERE finished_at IS NOT NULL AND finished_at < ?
			AND job_id NOT IN (SELECT id FROM river_job WHERE state IN ` + liveStates + `)`
		for _, q := range []string{
			`DELETE FROM qsp_checkpoint WHERE execution_id IN (` + old + `)`,
			`DELETE FROM qsp_journal WHERE execution_id IN (` + old + `)`,
			`DELETE FROM qsp_event WHERE execution_id IN (` + old + `)`,
			`DELETE FROM qsp_execution_policy WHERE execution_id IN (` + old + `)`,
		} {
			if _, err := tx.ExecContext(ctx, s.dia.rebind(q), cut); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, s.dia.rebind(`DELETE FROM qsp_execution WHERE id IN (`+old+`)`), cut)
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return n, err
}

// NotificationCount counts the notifications recorded and not yet pruned.
func (s *Store) NotificationCount(ctx context.Context) (int, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM qsp_event`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count notifications: %w", err)
	}
	return n, nil
}
