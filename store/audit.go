package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"iter"
	"strings"
	"time"
)

// AuditRecord is one audit record: an execution's decision, one of its
// steps, or an operator's action (a console login, a reload, …). The
// columns are what records are searched by; Record is the whole record as
// the JSONL audit file has it.
type AuditRecord struct {
	ID          int64           `json:"id,omitempty"` // set by the store, increasing
	Time        time.Time       `json:"time"`
	Type        string          `json:"type"` // decision, step, or an action's name
	ExecutionID string          `json:"execution_id,omitempty"`
	Site        string          `json:"site,omitempty"`
	AppID       string          `json:"app_id,omitempty"`
	AppName     string          `json:"app_name,omitempty"`
	User        string          `json:"user,omitempty"`     // who acted (an operator), or whose change was evaluated
	Policies    []string        `json:"policies,omitempty"` // the policies concerned (matched, or the step's)
	Outcome     string          `json:"outcome,omitempty"`  // a decision's outcome, a step's status, an action's result
	Action      string          `json:"action,omitempty"`   // a step's action (promote, email, …), or an operator's (login, reload, …)
	Record      json.RawMessage `json:"record,omitempty"`   // the whole record (JSON); nil: the fields above
}

// AppendAudit stores audit records, in one transaction.
func (s *Store) AppendAudit(ctx context.Context, recs ...AuditRecord) error {
	if len(recs) == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("append audit records: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	if err := s.appendAudit(ctx, tx, recs); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("append audit records: %w", err)
	}
	return nil
}

func (s *Store) appendAudit(ctx context.Context, tx *sql.Tx, recs []AuditRecord) error {
	for _, r := range recs {
		if r.Type == "" {
			return fmt.Errorf("append audit records: a record needs a type")
		}
		if r.Time.IsZero() {
			r.Time = s.now()
		}
		record := r.Record
		if len(record) == 0 {
			record, _ = json.Marshal(r)
		} else if !json.Valid(record) {
			return fmt.Errorf("append audit records: the %s record is not valid JSON", r.Type)
		}
		policies := uniq(r.Policies)
		var id int64
		err := tx.QueryRowContext(ctx, s.dia.rebind(`INSERT INTO qsp_audit (at, type, execution_id, site, app_id, app_name, user_name, policies, outcome, action, record)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`),
			s.dia.timeArg(r.Time), r.Type, r.ExecutionID, r.Site, r.AppID, r.AppName, r.User, strings.Join(policies, "\n"), r.Outcome, r.Action, string(record)).Scan(&id)
		if err != nil {
			return fmt.Errorf("append audit records: %w", err)
		}
		for _, p := range policies {
			if _, err := tx.ExecContext(ctx, s.dia.rebind(`INSERT INTO qsp_audit_policy (policy, audit_id) VALUES (?, ?)`), p, id); err != nil {
				return fmt.Errorf("append audit records: %w", err)
			}
		}
		if r.AppID != "" && r.AppName != "" {
			if _, err := tx.ExecContext(ctx, s.dia.rebind(`INSERT INTO qsp_app_name (site, app_id, name) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`),
				r.Site, r.AppID, r.AppName); err != nil {
				return fmt.Errorf("append audit records: %w", err)
			}
		}
	}
	return nil
}

// AuditQuery selects audit records; empty fields do not filter.
type AuditQuery struct {
	Type        string
	ExecutionID string
	Site        string
	AppID       string
	AppName     string // a part of a name the app had, in any case
	User        string // exactly
	Policy      string // records that concern this policy
	Action      string // a step's or an operator's action
	Outcome     string
	Since       time.Time
	Until       time.Time // exclusive
	Oldest      bool      // oldest first (exports); newest first by default
	After       int64     // the previous page's Next; 0 for the first page
	Limit       int       // default 100, at most 1000
}

// AuditPage is one page of audit records.
type AuditPage struct {
	Records []AuditRecord
	Next    int64 // pass as AuditQuery.After for the following page; 0 on the last page
}

// AuditRecords returns one page of the audit records q selects, filtered
// and paginated (keyset, on the record ID) in the database.
func (s *Store) AuditRecords(ctx context.Context, q AuditQuery) (AuditPage, error) {
	limit := pageLimit(q.Limit)
	var w where
	from, id := `qsp_audit a`, `a.id`
	if q.Policy != "" {
		// From the policy's index, which is in record order: a rare policy
		// does not scan every record.
		from, id = `qsp_audit_policy p JOIN qsp_audit a ON a.id = p.audit_id`, `p.audit_id`
		w.add(`p.policy = ?`, q.Policy)
	}
	w.eq("a.type", q.Type)
	w.eq("a.execution_id", q.ExecutionID)
	w.eq("a.site", q.Site)
	w.eq("a.app_id", q.AppID)
	w.eq("a.user_name", q.User)
	w.eq("a.action", q.Action)
	w.eq("a.outcome", q.Outcome)
	if q.AppName != "" {
		ids, err := s.appsNamed(ctx, q.AppName)
		if err != nil || len(ids) == 0 {
			return AuditPage{}, err
		}
		w.in("a.app_id", ids)
	}
	if !q.Since.IsZero() {
		w.add(`a.at >= ?`, s.dia.timeArg(q.Since))
	}
	if !q.Until.IsZero() {
		w.add(`a.at < ?`, s.dia.timeArg(q.Until))
	}
	order := "DESC"
	if q.Oldest {
		order = "ASC"
	}
	if q.After != 0 {
		if q.Oldest {
			w.add(id+` > ?`, q.After)
		} else {
			w.add(id+` < ?`, q.After)
		}
	}
	rows, err := s.db.QueryContext(ctx, s.dia.rebind(`SELECT a.id, a.at, a.type, a.execution_id, a.site, a.app_id, a.app_name, a.user_name, a.policies, a.outcome, a.action, a.record
		FROM `+from+w.sql()+` ORDER BY `+id+` `+order+` LIMIT ?`), append(w.args, limit+1)...)
	if err != nil {
		return AuditPage{}, fmt.Errorf("audit records: %w", err)
	}
	defer rows.Close()
	var page AuditPage
	for rows.Next() {
		var r AuditRecord
		var at dbTime
		var policies, record string
		if err := rows.Scan(&r.ID, &at, &r.Type, &r.ExecutionID, &r.Site, &r.AppID, &r.AppName, &r.User, &policies, &r.Outcome, &r.Action, &record); err != nil {
			return AuditPage{}, fmt.Errorf("audit records: %w", err)
		}
		r.Time, r.Record = at.Time, json.RawMessage(record)
		if policies != "" {
			r.Policies = strings.Split(policies, "\n")
		}
		page.Records = append(page.Records, r)
	}
	if err := rows.Err(); err != nil {
		return AuditPage{}, fmt.Errorf("audit records: %w", err)
	}
	if len(page.Records) > limit {
		page.Records = page.Records[:limit]
		page.Next = page.Records[limit-1].ID
	}
	return page, nil
}

// AllAuditRecords yields every record q selects (q.Limit is the page size),
// a page at a time: memory stays flat however many there are, and the
// database is free between pages. It stops at the first error.
func (s *Store) AllAuditRecords(ctx context.Context, q AuditQuery) iter.Seq2[AuditRecord, error] {
	return func(yield func(AuditRecord, error) bool) {
		if q.Limit == 0 {
			q.Limit = maxPage
		}
		for {
			page, err := s.AuditRecords(ctx, q)
			if err != nil {
				yield(AuditRecord{}, err)
				return
			}
			for _, r := range page.Records {
				if !yield(r, nil) {
					return
				}
			}
			if page.Next == 0 {
				return
			}
			q.After = page.Next
		}
	}
}

// ExecutionQuery selects executions; empty fields do not filter.
type ExecutionQuery struct {
	Site    string
	AppID   string
	AppName string // a part of a name the app had, in any case
	Policy  string // executions in which this policy matched
	State   string // the outcome (acted, no_match, failed, skipped), running, retrying, interrupted
	Since   time.Time
	Until   time.Time // exclusive; both on when the execution started
	After   string    // the previous page's Next; "" for the first page
	Limit   int       // default 100, at most 1000
}

// ExecutionPage is one page of executions, newest first.
type ExecutionPage struct {
	Executions []Execution // without their events (Execution reads one with it)
	Next       string      // pass as ExecutionQuery.After for the following page; "" on the last page
}

// Executions returns one page of the executions q selects, newest first
// (by execution ID, which starts with the time its first notification
// came), filtered and paginated (keyset) in the database.
func (s *Store) Executions(ctx context.Context, q ExecutionQuery) (ExecutionPage, error) {
	limit := pageLimit(q.Limit)
	var w where
	from, id := `qsp_execution e`, `e.id`
	if q.Policy != "" {
		from, id = `qsp_execution_policy p JOIN qsp_execution e ON e.id = p.execution_id`, `p.execution_id`
		w.add(`p.policy = ?`, q.Policy)
	}
	w.eq("e.site", q.Site)
	w.eq("e.app_id", q.AppID)
	w.eq("e.state", q.State)
	if q.AppName != "" {
		ids, err := s.appsNamed(ctx, q.AppName)
		if err != nil || len(ids) == 0 {
			return ExecutionPage{}, err
		}
		w.in("e.app_id", ids)
	}
	if !q.Since.IsZero() {
		w.add(`e.started_at >= ?`, s.dia.timeArg(q.Since))
	}
	if !q.Until.IsZero() {
		w.add(`e.started_at < ?`, s.dia.timeArg(q.Until))
	}
	if q.After != "" {
		w.add(id+` < ?`, q.After)
	}
	// The policy table's columns are not qsp_execution's: listColumns
	// need no qualifying.
	list, err := s.executions(ctx, `SELECT `+listColumns+` FROM `+from+w.sql()+` ORDER BY `+id+` DESC LIMIT ?`, append(w.args, limit+1)...)
	if err != nil {
		return ExecutionPage{}, err
	}
	page := ExecutionPage{Executions: list}
	if len(list) > limit {
		page.Executions = list[:limit]
		page.Next = list[limit-1].ID
	}
	return page, nil
}

const maxPage = 1000

func pageLimit(n int) int {
	switch {
	case n <= 0:
		return 100
	case n > maxPage:
		return maxPage
	}
	return n
}

// where builds a WHERE clause from conditions with ? placeholders.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, args ...any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, args...)
}

func (w *where) eq(col, v string) {
	if v != "" {
		w.add(col+` = ?`, v)
	}
}

// contains matches a part of the column in any case, taking the user's
// text literally (% and _ are not wildcards).
func (w *where) contains(col, v string) {
	if v == "" {
		return
	}
	esc := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(strings.ToLower(v))
	w.add(`lower(`+col+`) LIKE ? ESCAPE '\'`, "%"+esc+"%")
}

// in matches any of the values.
func (w *where) in(col string, vs []string) {
	args := make([]any, len(vs))
	for i, v := range vs {
		args[i] = v
	}
	w.add(col+` IN (?`+strings.Repeat(`, ?`, len(vs)-1)+`)`, args...)
}

// maxNamedApps bounds the apps a search by a part of the name finds.
const maxNamedApps = 1000

// appsNamed returns the IDs of the apps that had a name holding text (any
// case, taken literally): a name search reads the small table of names,
// then the records by app ID, from their index.
func (s *Store) appsNamed(ctx context.Context, text string) ([]string, error) {
	var w where
	w.contains("name", text)
	rows, err := s.db.QueryContext(ctx, s.dia.rebind(`SELECT DISTINCT app_id FROM qsp_app_name`+w.sql()+` LIMIT ?`), append(w.args, maxNamedApps)...)
	if err != nil {
		return nil, fmt.Errorf("apps by name: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("apps by name: %w", err)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

func (w *where) sql() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}
