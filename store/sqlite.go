package store

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver (no cgo)
)

// DBFile is the SQLite database's file name inside the state folder.
const DBFile = "promoter.db"

// sqliteDialect is one file in the state folder, used by one process (the
// folder lock, taken by Open, sees to that).
type sqliteDialect struct{ dir string }

func (d *sqliteDialect) open(ctx context.Context) (*sql.DB, riverdriver.Driver[*sql.Tx], func(), error) {
	path := filepath.Join(d.dir, DBFile)
	// WAL with synchronous=FULL: a commit is on disk when it returns, which
	// is what "202 Accepted" promises. One connection: SQLite allows one
	// writer and River's SQLite driver asks for it.
	dsn := "file:" + filepath.ToSlash(path) +
		"?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, nil, nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		db.Close()
		return nil, nil, nil, fmt.Errorf("protect %s: %w", path, err)
	}
	return db, riversqlite.New(db), nil, nil
}

func (*sqliteDialect) prepareMigrations(context.Context, *sql.Tx) error  { return nil }
func (*sqliteDialect) exclusive() bool                                   { return true }
func (*sqliteDialect) lockApps(context.Context, *sql.Tx, []string) error { return nil }
func (*sqliteDialect) rebind(q string) string                            { return q }
func (*sqliteDialect) jobArg(f string) string                            { return "json_extract(args, '$." + f + "')" }

// River keeps its times as "YYYY-MM-DD HH:MM:SS.SSS" text and compares them as text.
func (*sqliteDialect) riverNow() string { return `strftime('%Y-%m-%d %H:%M:%f', 'now')` }
func (*sqliteDialect) riverAgo() string {
	return `strftime('%Y-%m-%d %H:%M:%f', 'now', '-' || ? || ' seconds')`
}

// The store's times are timeLayout text; SQLite's clock has milliseconds,
// padded to timeLayout's nine digits so that text order stays time order.
func (*sqliteDialect) now() string {
	return `coalesce(?, strftime('%Y-%m-%dT%H:%M:%f000000Z', 'now'))`
}
func (*sqliteDialect) nowPlus() string {
	return `strftime('%Y-%m-%dT%H:%M:%f000000Z', coalesce(?, 'now'), ? || ' seconds')`
}
func (*sqliteDialect) secondsSince(col string) string {
	return `((julianday(coalesce(?, 'now')) - julianday(` + col + `)) * 86400.0)`
}
func (*sqliteDialect) forShare() string        { return "" } // transactions are serial
func (*sqliteDialect) timeArg(t time.Time) any { return formatTime(t) }
func (*sqliteDialect) day(col string) string   { return "substr(" + col + ", 1, 10)" }

func (*sqliteDialect) migrations() []string { return sqliteMigrations }

var sqliteMigrations = []string{
	// 1: the tables of the first release (IF NOT EXISTS: a database made
	// before migrations were numbered adopts them as they are).
	`
CREATE TABLE IF NOT EXISTS qsp_event (
	id           INTEGER PRIMARY KEY AUTOINCREMENT,
	site         TEXT NOT NULL,
	app_id       TEXT NOT NULL,
	kind         TEXT NOT NULL DEFAULT '',
	change       TEXT,
	received_at  TEXT NOT NULL,
	execution_id TEXT
);
CREATE INDEX IF NOT EXISTS qsp_event_app ON qsp_event (site, app_id, execution_id);
CREATE INDEX IF NOT EXISTS qsp_event_execution ON qsp_event (execution_id);

CREATE TABLE IF NOT EXISTS qsp_pending_app (
	site         TEXT NOT NULL,
	app_id       TEXT NOT NULL,
	job_id       INTEGER NOT NULL,
	execution_id TEXT NOT NULL,
	PRIMARY KEY (site, app_id)
);

CREATE TABLE IF NOT EXISTS qsp_execution (
	id          TEXT PRIMARY KEY,
	job_id      INTEGER NOT NULL,
	site        TEXT NOT NULL,
	app_id      TEXT NOT NULL,
	state       TEXT NOT NULL,
	started_at  TEXT NOT NULL,
	finished_at TEXT,
	revision    TEXT NOT NULL DEFAULT '',
	kinds       TEXT NOT NULL DEFAULT '',
	event       TEXT,
	summary     TEXT NOT NULL DEFAULT '',
	error       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS qsp_execution_started ON qsp_execution (started_at);

CREATE TABLE IF NOT EXISTS qsp_checkpoint (
	execution_id TEXT NOT NULL,
	step_key     TEXT NOT NULL,
	result       TEXT NOT NULL,
	saved_at     TEXT NOT NULL,
	PRIMARY KEY (execution_id, step_key)
);

CREATE TABLE IF NOT EXISTS qsp_journal (
	execution_id TEXT NOT NULL,
	step_key     TEXT NOT NULL,
	key          TEXT NOT NULL,
	value        TEXT NOT NULL,
	PRIMARY KEY (execution_id, step_key, key)
);

CREATE TABLE IF NOT EXISTS qsp_app (
	site              TEXT NOT NULL,
	app_id            TEXT NOT NULL,
	modified_date     TEXT NOT NULL,
	kinds             TEXT NOT NULL,
	execution_id      TEXT NOT NULL,
	PRIMARY KEY (site, app_id)
);

CREATE TABLE IF NOT EXISTS qsp_site (
	alias        TEXT PRIMARY KEY,
	token        TEXT NOT NULL,
	handles      TEXT NOT NULL DEFAULT '[]',
	catchup_mark TEXT NOT NULL DEFAULT ''
);
`,
	// 2: the shared view (executions listed by app name and policy, the
	// audit records), leases and replicas.
	`
ALTER TABLE qsp_execution ADD COLUMN app_name TEXT NOT NULL DEFAULT '';
ALTER TABLE qsp_execution ADD COLUMN policies TEXT NOT NULL DEFAULT '';
CREATE INDEX qsp_execution_app ON qsp_execution (app_id, id);
CREATE INDEX qsp_execution_site ON qsp_execution (site, id);
CREATE INDEX qsp_execution_state ON qsp_execution (state, id);

CREATE TABLE qsp_execution_policy (
	policy       TEXT NOT NULL,
	execution_id TEXT NOT NULL,
	PRIMARY KEY (policy, execution_id)
) WITHOUT ROWID;
CREATE INDEX qsp_execution_policy_execution ON qsp_execution_policy (execution_id);

CREATE TABLE qsp_audit (
	id           INTEGER PRIMARY KEY AUTOINCREMENT,
	at           TEXT NOT NULL,
	type         TEXT NOT NULL,
	execution_id TEXT NOT NULL DEFAULT '',
	site         TEXT NOT NULL DEFAULT '',
	app_id       TEXT NOT NULL DEFAULT '',
	app_name     TEXT NOT NULL DEFAULT '',
	user_name    TEXT NOT NULL DEFAULT '',
	policies     TEXT NOT NULL DEFAULT '',
	outcome      TEXT NOT NULL DEFAULT '',
	record       TEXT NOT NULL
);
CREATE INDEX qsp_audit_at ON qsp_audit (at);
CREATE INDEX qsp_audit_app ON qsp_audit (app_id, id);
CREATE INDEX qsp_audit_user ON qsp_audit (user_name, id);
CREATE INDEX qsp_audit_execution ON qsp_audit (execution_id);

CREATE TABLE qsp_audit_policy (
	policy   TEXT NOT NULL,
	audit_id INTEGER NOT NULL,
	PRIMARY KEY (policy, audit_id)
) WITHOUT ROWID;

CREATE TABLE qsp_lease (
	name        TEXT PRIMARY KEY,
	holder      TEXT NOT NULL,
	term        INTEGER NOT NULL,
	acquired_at TEXT NOT NULL,
	expires_at  TEXT NOT NULL
);

CREATE TABLE qsp_replica (
	id           TEXT PRIMARY KEY,
	listen       TEXT NOT NULL DEFAULT '',
	callback_url TEXT NOT NULL DEFAULT '',
	revision     TEXT NOT NULL DEFAULT '',
	started_at   TEXT NOT NULL,
	heartbeat_at TEXT NOT NULL
);
`,
	// 3: the leader's view of each site (SiteHealth), for every replica.
	`
ALTER TABLE qsp_site ADD COLUMN health TEXT NOT NULL DEFAULT '';
ALTER TABLE qsp_site ADD COLUMN health_at TEXT;
`,
	// 4: the console: secrets made once and shared by every replica (the
	// session key), and audit records searchable by action (a step's, or an
	// operator's).
	`
CREATE TABLE qsp_secret (
	name       TEXT PRIMARY KEY,
	value      TEXT NOT NULL,
	created_at TEXT NOT NULL
);
ALTER TABLE qsp_audit ADD COLUMN action TEXT NOT NULL DEFAULT '';
CREATE INDEX qsp_audit_action ON qsp_audit (action, id);

-- Every name each app had: searching by a part of the name reads this
-- small table, then the records by app ID (indexed).
CREATE TABLE qsp_app_name (
	site   TEXT NOT NULL,
	app_id TEXT NOT NULL,
	name   TEXT NOT NULL,
	PRIMARY KEY (site, app_id, name)
) WITHOUT ROWID;
INSERT INTO qsp_app_name (site, app_id, name) SELECT DISTINCT site, app_id, app_name FROM qsp_execution WHERE app_name <> '' ON CONFLICT DO NOTHING;
INSERT INTO qsp_app_name (site, app_id, name) SELECT DISTINCT site, app_id, app_name FROM qsp_audit WHERE app_name <> '' AND app_id <> '' ON CONFLICT DO NOTHING;
`,
}
