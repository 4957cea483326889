package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
)

// postgresDialect is a schema in a PostgreSQL database shared by several
// processes (replicas). The store talks database/sql through pgx, so its
// transactions are *sql.Tx as on SQLite and River runs on the same pool
// (riverdatabasesql); River's LISTEN/NOTIFY goes through a pgx pool of its
// own, so new jobs wake idle workers at once instead of at the next poll.
type postgresDialect struct {
	url    string
	schema string
	conns  int
}

func (d *postgresDialect) open(ctx context.Context) (*sql.DB, riverdriver.Driver[*sql.Tx], func(), error) {
	cc, err := pgx.ParseConfig(d.url)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("store: %w", CheckURL(d.url))
	}
	// The store's own SQL names its tables unqualified; River qualifies
	// its own with the schema (river.Config.Schema).
	cc.RuntimeParams["search_path"] = d.schema
	if cc.RuntimeParams["application_name"] == "" {
		cc.RuntimeParams["application_name"] = "qs-promoter"
	}
	db := stdlib.OpenDB(*cc)
	db.SetMaxOpenConns(d.conns)
	db.SetMaxIdleConns(d.conns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, nil, nil, fmt.Errorf("store: connect to PostgreSQL at %s:%d (database %q, user %q): %w", cc.Host, cc.Port, cc.Database, cc.User, err)
	}
	pc, err := pgxpool.ParseConfig(d.url)
	if err != nil {
		db.Close()
		return nil, nil, nil, fmt.Errorf("store: listener pool: %w", CheckURL(d.url))
	}
	pc.ConnConfig.RuntimeParams["search_path"] = d.schema
	pc.ConnConfig.RuntimeParams["application_name"] = cc.RuntimeParams["application_name"] + " listener"
	pc.MinConns, pc.MaxConns = 0, 1 // River hijacks one connection for LISTEN
	listen, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		db.Close()
		return nil, nil, nil, fmt.Errorf("store: listener pool: %w", err)
	}
	return db, riverdatabasesql.NewWithPgxListener(db, listen), listen.Close, nil
}

// prepareMigrations takes a transaction-scoped advisory lock, so replicas
// starting together migrate one after the other (the lock ends with the
// transaction: a crashed process cannot keep it), and creates the schema.
// The schema's existence is checked first: a user allowed only into an
// existing schema may not CREATE SCHEMA, even IF NOT EXISTS.
func (d *postgresDialect) prepareMigrations(ctx context.Context, tx *sql.Tx) error {
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, "qs-promoter migrations "+d.schema); err != nil {
		return fmt.Errorf("lock for migrations: %w", err)
	}
	var exists bool
	if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, d.schema).Scan(&exists); err != nil {
		return fmt.Errorf("look up schema %s: %w", d.schema, err)
	}
	if !exists {
		if _, err := tx.ExecContext(ctx, `CREATE SCHEMA `+d.schema); err != nil { // validSchema checked the name
			return fmt.Errorf("create schema %s: %w", d.schema, err)
		}
	}
	return nil
}

func (*postgresDialect) exclusive() bool { return false }

// lockApps takes transaction-scoped advisory locks on the apps, in one
// order (sorted keys), so two batches with the same apps cannot deadlock.
func (d *postgresDialect) lockApps(ctx context.Context, tx *sql.Tx, keys []string) error {
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = "qs-promoter app " + d.schema + " " + k
	}
	_, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(k)
		FROM (SELECT DISTINCT hashtextextended(n, 0) AS k FROM unnest($1::text[]) AS n ORDER BY 1) AS keys`, names)
	if err != nil {
		return fmt.Errorf("lock apps: %w", err)
	}
	return nil
}

func (*postgresDialect) rebind(q string) string  { return rebindDollar(q) }
func (*postgresDialect) jobArg(f string) string  { return "(args->>'" + f + "')" }
func (*postgresDialect) riverNow() string        { return "now()" }
func (*postgresDialect) riverAgo() string        { return "(now() - make_interval(secs => ?))" }
func (*postgresDialect) now() string             { return "coalesce(CAST(? AS timestamptz), now())" }
func (*postgresDialect) forShare() string        { return " FOR SHARE" }
func (*postgresDialect) timeArg(t time.Time) any { return t.UTC() }
func (*postgresDialect) day(col string) string {
	return "to_char(" + col + " AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
}
func (*postgresDialect) nowPlus() string {
	return "(coalesce(CAST(? AS timestamptz), now()) + make_interval(secs => ?))"
}
func (*postgresDialect) secondsSince(col string) string {
	return "extract(epoch FROM (coalesce(CAST(? AS timestamptz), now()) - " + col + "))::float8"
}

func (*postgresDialect) migrations() []string { return postgresMigrations }

// postgresMigrations mirror sqliteMigrations version for version, with
// PostgreSQL's types: identity columns, timestamptz, jsonb.
var postgresMigrations = []string{
	`
CREATE TABLE qsp_event (
	id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	site         text NOT NULL,
	app_id       text NOT NULL,
	kind         text NOT NULL DEFAULT '',
	change       jsonb,
	received_at  timestamptz NOT NULL,
	execution_id text
);
CREATE INDEX qsp_event_app ON qsp_event (site, app_id, execution_id);
CREATE INDEX qsp_event_execution ON qsp_event (execution_id);

CREATE TABLE qsp_pending_app (
	site         text NOT NULL,
	app_id       text NOT NULL,
	job_id       bigint NOT NULL,
	execution_id text NOT NULL,
	PRIMARY KEY (site, app_id)
);

CREATE TABLE qsp_execution (
	id          text PRIMARY KEY,
	job_id      bigint NOT NULL,
	site        text NOT NULL,
	app_id      text NOT NULL,
	state       text NOT NULL,
	started_at  timestamptz NOT NULL,
	finished_at timestamptz,
	revision    text NOT NULL DEFAULT '',
	kinds       text NOT NULL DEFAULT '',
	event       jsonb,
	summary     text NOT NULL DEFAULT '',
	error       text NOT NULL DEFAULT ''
);
CREATE INDEX qsp_execution_started ON qsp_execution (started_at);

CREATE TABLE qsp_checkpoint (
	execution_id text NOT NULL,
	step_key     text NOT NULL,
	result       text NOT NULL,
	saved_at     timestamptz NOT NULL,
	PRIMARY KEY (execution_id, step_key)
);

CREATE TABLE qsp_journal (
	execution_id text NOT NULL,
	step_key     text NOT NULL,
	key          text NOT NULL,
	value        text NOT NULL,
	PRIMARY KEY (execution_id, step_key, key)
);

CREATE TABLE qsp_app (
	site          text NOT NULL,
	app_id        text NOT NULL,
	modified_date text NOT NULL,
	kinds         text NOT NULL,
	execution_id  text NOT NULL,
	PRIMARY KEY (site, app_id)
);

CREATE TABLE qsp_site (
	alias        text PRIMARY KEY,
	token        text NOT NULL,
	handles      text NOT NULL DEFAULT '[]',
	catchup_mark text NOT NULL DEFAULT ''
);
`,
	`
ALTER TABLE qsp_execution ADD COLUMN app_name text NOT NULL DEFAULT '';
ALTER TABLE qsp_execution ADD COLUMN policies text NOT NULL DEFAULT '';
CREATE INDEX qsp_execution_app ON qsp_execution (app_id, id);
CREATE INDEX qsp_execution_site ON qsp_execution (site, id);
CREATE INDEX qsp_execution_state ON qsp_execution (state, id);

CREATE TABLE qsp_execution_policy (
	policy       text NOT NULL,
	execution_id text NOT NULL,
	PRIMARY KEY (policy, execution_id)
);
CREATE INDEX qsp_execution_policy_execution ON qsp_execution_policy (execution_id);

CREATE TABLE qsp_audit (
	id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at           timestamptz NOT NULL,
	type         text NOT NULL,
	execution_id text NOT NULL DEFAULT '',
	site         text NOT NULL DEFAULT '',
	app_id       text NOT NULL DEFAULT '',
	app_name     text NOT NULL DEFAULT '',
	user_name    text NOT NULL DEFAULT '',
	policies     text NOT NULL DEFAULT '',
	outcome      text NOT NULL DEFAULT '',
	record       jsonb NOT NULL
);
CREATE INDEX qsp_audit_at ON qsp_audit (at);
CREATE INDEX qsp_audit_app ON qsp_audit (app_id, id);
CREATE INDEX qsp_audit_user ON qsp_audit (user_name, id);
CREATE INDEX qsp_audit_execution ON qsp_audit (execution_id);

CREATE TABLE qsp_audit_policy (
	policy   text NOT NULL,
	audit_id bigint NOT NULL,
	PRIMARY KEY (policy, audit_id)
);

CREATE TABLE qsp_lease (
	name        text PRIMARY KEY,
	holder      text NOT NULL,
	term        bigint NOT NULL,
	acquired_at timestamptz NOT NULL,
	expires_at  timestamptz NOT NULL
);

CREATE TABLE qsp_replica (
	id           text PRIMARY KEY,
	listen       text NOT NULL DEFAULT '',
	callback_url text NOT NULL DEFAULT '',
	revision     text NOT NULL DEFAULT '',
	started_at   timestamptz NOT NULL,
	heartbeat_at timestamptz NOT NULL
);
`,
	`
ALTER TABLE qsp_site ADD COLUMN health text NOT NULL DEFAULT '';
ALTER TABLE qsp_site ADD COLUMN health_at timestamptz;
`,
	`
CREATE TABLE qsp_secret (
	name       text PRIMARY KEY,
	value      text NOT NULL,
	created_at timestamptz NOT NULL
);
ALTER TABLE qsp_audit ADD COLUMN action text NOT NULL DEFAULT '';
CREATE INDEX qsp_audit_action ON qsp_audit (action, id);

CREATE TABLE qsp_app_name (
	site   text NOT NULL,
	app_id text NOT NULL,
	name   text NOT NULL,
	PRIMARY KEY (site, app_id, name)
);
INSERT INTO qsp_app_name (site, app_id, name) SELECT DISTINCT site, app_id, app_name FROM qsp_execution WHERE app_name <> '' ON CONFLICT DO NOTHING;
INSERT INTO qsp_app_name (site, app_id, name) SELECT DISTINCT site, app_id, app_name FROM qsp_audit WHERE app_name <> '' AND app_id <> '' ON CONFLICT DO NOTHING;
`,
}
