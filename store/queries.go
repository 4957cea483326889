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
	State      string          `json:"state"` // running, done, failed, skipped, retrying
	StartedAt  time.Time       `json:"started_at"`
	FinishedAt time.Time       `json:"finished_at,omitzero"`
	Revision   string          `json:"revision,omitempty"`
	Kinds      []string        `json:"kinds,omitempty"`
	Summary    string          `json:"summary,omitempty"`
	Error      string          `json:"error,omitempty"`
	Event      json.RawMessage `json:"-"` // the recorded event evaluated (kept for retries)
}

// StartExecution records that job's execution started and returns its
// record. On a retry the record already exists: it is returned with the
// event the first attempt evaluated, so the retry evaluates the same facts.
func (s *Store) StartExecution(ctx context.Context, job Job) (*Execution, error) {
	_, err := s.db.ExecContext(ctx, `INSERT INTO qsp_execution (id, job_id, site, app_id, state, started_at) VALUES (?, ?, ?, ?, 'running', ?)
		ON CONFLICT (id) DO UPDATE SET state = 'running', finished_at = NULL`,
		job.ExecutionID, job.ID, job.Site, job.AppID, formatTime(s.now()))
	if err != nil {
		return nil, fmt.Errorf("record execution: %w", err)
	}
	return s.Execution(ctx, job.ExecutionID)
}

// SaveEvent keeps the event an execution evaluates, with its kinds and the
// rule-set revision it was evaluated with.
func (s *Store) SaveEvent(ctx context.Context, id string, event []byte, kinds []string, revision string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE qsp_execution SET event = ?, kinds = ?, revision = ? WHERE id = ?`,
		string(event), strings.Join(kinds, ","), revision, id)
	if err != nil {
		return fmt.Errorf("record execution event: %w", err)
	}
	return nil
}

// FinishExecution records how an execution ended.
func (s *Store) FinishExecution(ctx context.Context, id, state, summary, errText string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE qsp_execution SET state = ?, summary = ?, error = ?, finished_at = ? WHERE id = ?`,
		state, summary, errText, formatTime(s.now()), id)
	if err != nil {
		return fmt.Errorf("record execution result: %w", err)
	}
	return nil
}

const executionColumns = `id, job_id, site, app_id, state, started_at, coalesce(finished_at, ''), revision, kinds, event, summary, error`

func scanExecution(sc interface{ Scan(...any) error }) (*Execution, error) {
	var e Execution
	var started, finished, kinds string
	var event sql.NullString
	if err := sc.Scan(&e.ID, &e.JobID, &e.Site, &e.AppID, &e.State, &started, &finished, &e.Revision, &kinds, &event, &e.Summary, &e.Error); err != nil {
		return nil, err
	}
	e.StartedAt, _ = parseTime(started)
	if finished != "" {
		e.FinishedAt, _ = parseTime(finished)
	}
	if kinds != "" {
		e.Kinds = strings.Split(kinds, ",")
	}
	if event.Valid {
		e.Event = json.RawMessage(event.String)
	}
	return &e, nil
}

// Execution reads one execution record; nil when there is none.
func (s *Store) Execution(ctx context.Context, id string) (*Execution, error) {
	e, err := scanExecution(s.db.QueryRowContext(ctx, `SELECT `+executionColumns+` FROM qsp_execution WHERE id = ?`, id))
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
	out, err := s.executions(ctx, `SELECT `+executionColumns+` FROM qsp_execution ORDER BY started_at DESC, id DESC LIMIT ?`, n)
	for i := range out {
		out[i].Event = nil
	}
	return out, err
}

// ExecutionsFor lists the executions of one app, oldest first (for tests and
// troubleshooting).
func (s *Store) ExecutionsFor(ctx context.Context, site, app string) ([]Execution, error) {
	return s.executions(ctx, `SELECT `+executionColumns+` FROM qsp_execution WHERE site = ? AND app_id = ? ORDER BY started_at, id`, site, app)
}

func (s *Store) executions(ctx context.Context, query string, args ...any) ([]Execution, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
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
	return out, rows.Err()
}

// Checkpoint returns the saved result of a finished step.
func (s *Store) Checkpoint(ctx context.Context, execID, stepKey string) ([]byte, bool, error) {
	var result string
	err := s.db.QueryRowContext(ctx, `SELECT result FROM qsp_checkpoint WHERE execution_id = ? AND step_key = ?`, execID, stepKey).Scan(&result)
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
	_, err := s.db.ExecContext(ctx, `INSERT OR REPLACE INTO qsp_checkpoint (execution_id, step_key, result, saved_at) VALUES (?, ?, ?, ?)`,
		execID, stepKey, string(result), formatTime(s.now()))
	if err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	return nil
}

// JournalGet reads a step's journal entry.
func (s *Store) JournalGet(ctx context.Context, execID, stepKey, key string) (string, bool, error) {
	var v string
	err := s.db.QueryRowContext(ctx, `SELECT value FROM qsp_journal WHERE execution_id = ? AND step_key = ? AND key = ?`,
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
	_, err := s.db.ExecContext(ctx, `INSERT OR REPLACE INTO qsp_journal (execution_id, step_key, key, value) VALUES (?, ?, ?, ?)`,
		execID, stepKey, key, value)
	if err != nil {
		return fmt.Errorf("write step journal: %w", err)
	}
	return nil
}

// Evaluated returns the app state last evaluated: its modifiedDate and the
// event kinds it was evaluated for.
func (s *Store) Evaluated(ctx context.Context, site, app string) (modified string, kinds []string, ok bool, err error) {
	var k string
	err = s.db.QueryRowContext(ctx, `SELECT modified_date, kinds FROM qsp_app WHERE site = ? AND app_id = ?`, site, app).Scan(&modified, &k)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil, false, nil
	}
	if err != nil {
		return "", nil, false, fmt.Errorf("read app state: %w", err)
	}
	if k != "" {
		kinds = strings.Split(k, ",")
	}
	return modified, kinds, true, nil
}

// SetEvaluated records the app state an execution evaluated. Kinds of
// earlier evaluations of the same state are kept (merged).
func (s *Store) SetEvaluated(ctx context.Context, site, app, modified string, kinds []string, execID string) error {
	prev, prevKinds, ok, err := s.Evaluated(ctx, site, app)
	if err != nil {
		return err
	}
	if ok && prev == modified {
		kinds = mergeKinds(prevKinds, kinds)
	}
	_, err = s.db.ExecContext(ctx, `INSERT OR REPLACE INTO qsp_app (site, app_id, modified_date, kinds, execution_id) VALUES (?, ?, ?, ?, ?)`,
		site, app, modified, strings.Join(kinds, ","), execID)
	if err != nil {
		return fmt.Errorf("record app state: %w", err)
	}
	return nil
}

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
	if _, err := s.db.ExecContext(ctx, `INSERT OR IGNORE INTO qsp_site (alias, token) VALUES (?, ?)`, alias, NewToken()); err != nil {
		return "", fmt.Errorf("site token: %w", err)
	}
	var tok string
	if err := s.db.QueryRowContext(ctx, `SELECT token FROM qsp_site WHERE alias = ?`, alias).Scan(&tok); err != nil {
		return "", fmt.Errorf("site token: %w", err)
	}
	return tok, nil
}

// Handles returns the subscription handles last recorded for a site.
func (s *Store) Handles(ctx context.Context, alias string) ([]string, error) {
	var raw string
	err := s.db.QueryRowContext(ctx, `SELECT handles FROM qsp_site WHERE alias = ?`, alias).Scan(&raw)
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
	if handles == nil {
		handles = []string{}
	}
	raw, _ := json.Marshal(handles)
	if _, err := s.SiteToken(ctx, alias); err != nil {
		return err
	}
	if _, err := s.db.ExecContext(ctx, `UPDATE qsp_site SET handles = ? WHERE alias = ?`, string(raw), alias); err != nil {
		return fmt.Errorf("record subscription handles: %w", err)
	}
	return nil
}

// CatchupMark returns the latest app modifiedDate catch-up has seen on a
// site (QRS's own timestamp text); "" before the first catch-up.
func (s *Store) CatchupMark(ctx context.Context, alias string) (string, error) {
	var mark string
	err := s.db.QueryRowContext(ctx, `SELECT catchup_mark FROM qsp_site WHERE alias = ?`, alias).Scan(&mark)
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
	if _, err := s.SiteToken(ctx, alias); err != nil {
		return err
	}
	if _, err := s.db.ExecContext(ctx, `UPDATE qsp_site SET catchup_mark = ? WHERE alias = ?`, mark, alias); err != nil {
		return fmt.Errorf("record catch-up mark: %w", err)
	}
	return nil
}

// QueueDepth counts evaluations by River state (available, scheduled,
// running, retryable, …); finished ones are not counted.
func (s *Store) QueueDepth(ctx context.Context) (map[string]int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT state, count(*) FROM river_job WHERE kind = ? AND state IN `+liveStates+` GROUP BY state`,
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

// Prune deletes executions (with their checkpoints, journals and
// notifications) that finished before the given time, except those whose
// job is still queued: an execution interrupted by a shutdown resumes at
// the next start, however late, and its checkpoints keep it from redoing
// finished steps.
func (s *Store) Prune(ctx context.Context, before time.Time) (int64, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("prune: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck
	cut := formatTime(before)
	old := `SELECT id FROM qsp_execution WHERE finished_at IS NOT NULL AND finished_at < ?
		AND job_id NOT IN (SELECT id FROM river_job WHERE state IN ` + liveStates + `)`
	for _, q := range []string{
		`DELETE FROM qsp_checkpoint WHERE execution_id IN (` + old + `)`,
		`DELETE FROM qsp_journal WHERE execution_id IN (` + old + `)`,
		`DELETE FROM qsp_event WHERE execution_id IN (` + old + `)`,
	} {
		if _, err := tx.ExecContext(ctx, q, cut); err != nil {
			return 0, fmt.Errorf("prune: %w", err)
		}
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM qsp_execution WHERE id IN (`+old+`)`, cut)
	if err != nil {
		return 0, fmt.Errorf("prune: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, tx.Commit()
}

// NotificationCount counts the notifications recorded and not yet pruned.
func (s *Store) NotificationCount(ctx context.Context) (int, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM qsp_event`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count notifications: %w", err)
	}
	return n, nil
}
