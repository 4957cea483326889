package console

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/qs-promoter/qs-promoter/store"
)

// The store has no API to write executions except by running them; tests
// and the benchmark write the rows straight into its tables, as the daemon
// would have left them.

// storeTime is a time as the store keeps it on SQLite.
func storeTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000000Z") }

// sqliteDB opens the store's SQLite file beside the store.
func sqliteDB(t testing.TB, stateDir string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.ToSlash(filepath.Join(stateDir, store.DBFile))+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

// postgresDB opens the store's schema on PostgreSQL.
func postgresDB(t testing.TB, dbURL, schema string) *sql.DB {
	t.Helper()
	cc, err := pgx.ParseConfig(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	cc.RuntimeParams["search_path"] = schema
	db := stdlib.OpenDB(*cc)
	t.Cleanup(func() { db.Close() })
	return db
}

// execRow is one execution as the store keeps it.
type execRow struct {
	ID, Site, AppID, AppName, State string
	Started                         time.Time
	Policies                        []string
	Event, Summary, Error           string
}

// addExecution writes one execution (SQLite).
func addExecution(t testing.TB, db *sql.DB, e execRow) {
	t.Helper()
	var policies string
	if len(e.Policies) > 0 {
		b, _ := json.Marshal(e.Policies)
		policies = string(b)
	}
	var event any
	if e.Event != "" {
		event = e.Event
	}
	finished := any(storeTime(e.Started.Add(3 * time.Second)))
	if e.State == "running" {
		finished = nil
	}
	if _, err := db.Exec(`INSERT INTO qsp_execution (id, job_id, site, app_id, app_name, state, started_at, finished_at, revision, kinds, policies, event, summary, error)
		VALUES (?, 1, ?, ?, ?, ?, ?, ?, 'r1', 'updated', ?, ?, ?, ?)`,
		e.ID, e.Site, e.AppID, e.AppName, e.State, storeTime(e.Started), finished, policies, event, e.Summary, e.Error); err != nil {
		t.Fatal(err)
	}
	for _, p := range e.Policies {
		if _, err := db.Exec(`INSERT INTO qsp_execution_policy (policy, execution_id) VALUES (?, ?)`, p, e.ID); err != nil {
			t.Fatal(err)
		}
	}
	if e.AppName != "" {
		if _, err := db.Exec(`INSERT INTO qsp_app_name (site, app_id, name) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`, e.Site, e.AppID, e.AppName); err != nil {
			t.Fatal(err)
		}
	}
}

// bulkSeed writes executions and audit records in a few statements, the
// database generating the rows: n executions a minute apart and m audit
// records (a decision, then steps of email, promote and tags, one of
// three matched policies) spread over the same time, ending at end.
func bulkSeed(tb testing.TB, db *sql.DB, driver string, executions, audits int, end time.Time) {
	tb.Helper()
	start := end.Add(-time.Duration(executions) * time.Minute)
	var stmts []string
	switch driver {
	case store.DriverSQLite:
		ts := func(expr string) string {
			// Text in the store's layout, n minutes after start.
			return `strftime('%Y-%m-%dT%H:%M:%S.000000000Z', '` + start.Format("2006-01-02 15:04:05") + `', '+' || (` + expr + `) || ' minutes')`
		}
		stmts = []string{
			`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ` + fmt.Sprint(executions) + `)
			INSERT INTO qsp_execution (id, job_id, site, app_id, app_name, state, started_at, finished_at, revision, kinds, policies, event, summary, error)
			SELECT printf('x%09d', i), i, CASE i % 3 WHEN 0 THEN 'dev' WHEN 1 THEN 'test' ELSE 'prod' END, printf('app-%05d', i % 5000), printf('Sales app %05d', i % 5000),
				CASE i % 10 WHEN 0 THEN 'failed' WHEN 1 THEN 'skipped' WHEN 2 THEN 'no_match' WHEN 3 THEN 'no_match' ELSE 'acted' END,
				` + ts("i") + `, ` + ts("i") + `, 'r1', 'updated', CASE WHEN i % 10 >= 4 THEN '["promote-approved"]' ELSE '' END,
				'{"site":"dev","kind":"updated","app":{"id":"' || printf('app-%05d', i % 5000) || '","name":"Sales app"}}', 'matched: promote-approved', ''
			FROM n`,
			`INSERT INTO qsp_execution_policy (policy, execution_id) SELECT 'promote-approved', id FROM qsp_execution WHERE policies <> ''`,
			`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ` + fmt.Sprint(audits) + `)
			INSERT INTO qsp_audit (at, type, execution_id, site, app_id, app_name, user_name, policies, outcome, action, record)
			SELECT ` + ts(fmt.Sprintf("i * %d / %d", executions, audits)) + `, CASE i % 4 WHEN 0 THEN 'decision' ELSE 'step' END,
				printf('x%09d', 1 + i * ` + fmt.Sprint(executions) + ` / ` + fmt.Sprint(audits) + `), 'dev', printf('app-%05d', i % 5000), printf('Sales app %05d', i % 5000),
				printf('CORP\u%03d', i % 200), CASE i % 3 WHEN 0 THEN 'promote-approved' WHEN 1 THEN 'alert-on-publish' ELSE 'promote-on-reload' END,
				CASE i % 4 WHEN 0 THEN 'acted' ELSE 'done' END, CASE i % 4 WHEN 0 THEN '' WHEN 1 THEN 'email' WHEN 2 THEN 'promote' ELSE 'add-tag' END,
				'{"type":"step","action":"promote","status":"done","duration_s":' || (i % 90) || ',"params":{"targets":[{"site":"test","mode":"overwrite"}]}}'
			FROM n`,
			`INSERT INTO qsp_audit_policy (policy, audit_id) SELECT policies, id FROM qsp_audit`,
			`INSERT INTO qsp_app_name (site, app_id, name) SELECT DISTINCT site, app_id, app_name FROM qsp_execution WHERE true ON CONFLICT DO NOTHING`,
			`ANALYZE`,
		}
	case store.DriverPostgres:
		ts := func(expr string) string {
			return `(timestamptz '` + start.Format(time.RFC3339) + `' + make_interval(mins => (` + expr + `)::int))`
		}
		stmts = []string{
			`INSERT INTO qsp_execution (id, job_id, site, app_id, app_name, state, started_at, finished_at, revision, kinds, policies, event, summary, error)
			SELECT 'x' || lpad(i::text, 9, '0'), i, CASE i % 3 WHEN 0 THEN 'dev' WHEN 1 THEN 'test' ELSE 'prod' END, 'app-' || lpad((i % 5000)::text, 5, '0'), 'Sales app ' || lpad((i % 5000)::text, 5, '0'),
				CASE i % 10 WHEN 0 THEN 'failed' WHEN 1 THEN 'skipped' WHEN 2 THEN 'no_match' WHEN 3 THEN 'no_match' ELSE 'acted' END,
				` + ts("i") + `, ` + ts("i") + `, 'r1', 'updated', CASE WHEN i % 10 >= 4 THEN '["promote-approved"]' ELSE '' END,
				jsonb_build_object('site', 'dev', 'kind', 'updated', 'app', jsonb_build_object('id', 'app-' || lpad((i % 5000)::text, 5, '0'), 'name', 'Sales app')), 'matched: promote-approved', ''
			FROM generate_series(1, ` + fmt.Sprint(executions) + `) AS i`,
			`INSERT INTO qsp_execution_policy (policy, execution_id) SELECT 'promote-approved', id FROM qsp_execution WHERE policies <> ''`,
			`INSERT INTO qsp_audit (at, type, execution_id, site, app_id, app_name, user_name, policies, outcome, action, record)
			SELECT ` + ts(fmt.Sprintf("i::bigint * %d / %d", executions, audits)) + `, CASE i % 4 WHEN 0 THEN 'decision' ELSE 'step' END,
				'x' || lpad((1 + i::bigint * ` + fmt.Sprint(executions) + ` / ` + fmt.Sprint(audits) + `)::text, 9, '0'), 'dev', 'app-' || lpad((i % 5000)::text, 5, '0'), 'Sales app ' || lpad((i % 5000)::text, 5, '0'),
				'CORP\u' || lpad((i % 200)::text, 3, '0'), CASE i % 3 WHEN 0 THEN 'promote-approved' WHEN 1 THEN 'alert-on-publish' ELSE 'promote-on-reload' END,
				CASE i % 4 WHEN 0 THEN 'acted' ELSE 'done' END, CASE i % 4 WHEN 0 THEN '' WHEN 1 THEN 'email' WHEN 2 THEN 'promote' ELSE 'add-tag' END,
				jsonb_build_object('type', 'step', 'action', 'promote', 'status', 'done', 'duration_s', i % 90, 'params', '{"targets":[{"site":"test","mode":"overwrite"}]}'::jsonb)
			FROM generate_series(1, ` + fmt.Sprint(audits) + `) AS i`,
			`INSERT INTO qsp_audit_policy (policy, audit_id) SELECT policies, id FROM qsp_audit`,
			`INSERT INTO qsp_app_name (site, app_id, name) SELECT DISTINCT site, app_id, app_name FROM qsp_execution ON CONFLICT DO NOTHING`,
			`ANALYZE`,
		}
	}
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			tb.Fatalf("seeding: %v\n%s", err, strings.TrimSpace(s)[:min(200, len(s))])
		}
	}
}
