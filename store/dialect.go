package store

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river/riverdriver"
)

// The databases the store runs on (Options.Driver).
const (
	DriverSQLite   = "sqlite"
	DriverPostgres = "postgres"
)

// dialect is everything that differs between SQLite and PostgreSQL: how to
// connect, the DDL, migrations' lock, and a few SQL fragments. All other
// SQL of the store is written once, with ? placeholders, in the subset both
// databases speak (ON CONFLICT, RETURNING, CTE-free statements).
type dialect interface {
	// open connects (and checks the connection) and returns River's
	// driver on the pool; closeExtra closes what else it opened (nil: nothing).
	open(ctx context.Context) (db *sql.DB, driver riverdriver.Driver[*sql.Tx], closeExtra func(), err error)
	// prepareMigrations runs first in the migrations' transaction: it makes
	// concurrent starts wait for each other, and creates what the
	// migrations need (the schema).
	prepareMigrations(ctx context.Context, tx *sql.Tx) error
	// migrations are the store's own DDL: version i+1 at index i.
	migrations() []string
	// exclusive reports whether this process is alone on the database (a
	// folder lock proves it): then every "running" job at start is lost.
	exclusive() bool
	// lockApps serialises, until tx ends, the transactions that record or
	// claim notifications of the same apps (keys "site/app"): with several
	// processes on one database, a claim must not miss a notification
	// committed next to it. No-op where transactions are serial anyway.
	lockApps(ctx context.Context, tx *sql.Tx, keys []string) error

	rebind(query string) string // ? placeholders in the database's own form
	jobArg(field string) string // a field of river_job.args, as text
	riverNow() string           // now, as River stores times in its own tables
	riverAgo() string           // now minus ? seconds, as River stores times
	now() string                // ? (a time, or NULL for the database's clock), as the store stores times
	nowPlus() string            // now (as in now()) plus ? seconds
	secondsSince(col string) string
	forShare() string // the row lock that makes a lease check hold until commit
	timeArg(t time.Time) any
	day(col string) string // the UTC day of a stored time, as YYYY-MM-DD text
}

// newDialect checks the options that choose the database.
func newDialect(o *Options) (dialect, error) {
	switch o.Driver {
	case "", DriverSQLite:
		o.Driver = DriverSQLite
		if o.Dir == "" {
			return nil, fmt.Errorf("store: the SQLite store needs a state folder (Options.Dir)")
		}
		return &sqliteDialect{dir: o.Dir}, nil
	case DriverPostgres:
		if o.URL == "" {
			return nil, fmt.Errorf("store: driver postgres needs a database URL (postgres://user:password@host:5432/database)")
		}
		if o.Schema == "" {
			o.Schema = DefaultSchema
		}
		if err := CheckSchema(o.Schema); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		if err := CheckURL(o.URL); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		// Executions mostly wait (on transfers, on QRS), so many workers
		// need few connections; a capped pool keeps several replicas
		// under PostgreSQL's default max_connections (100).
		return &postgresDialect{url: o.URL, schema: o.Schema, conns: min(o.Workers, 16) + 8}, nil
	default:
		return nil, fmt.Errorf("store: unknown driver %q (use %q or %q)", o.Driver, DriverSQLite, DriverPostgres)
	}
}

// DefaultSchema is the PostgreSQL schema of River's tables and the store's.
const DefaultSchema = "qs_promoter"

// maxSchemaLen leaves room in PostgreSQL's 63-byte names for River's
// notification topics, which it prefixes with the schema.
const maxSchemaLen = 40

// CheckSchema says what is wrong with a PostgreSQL schema name (nil: nothing).
func CheckSchema(name string) error {
	if !validSchema(name) {
		return fmt.Errorf("schema %q: use lower-case letters, digits and underscores, starting with a letter or underscore, at most %d characters", name, maxSchemaLen)
	}
	return nil
}

// CheckURL says what is wrong with a PostgreSQL connection URL (nil:
// nothing) without repeating it: it may hold a password.
func CheckURL(url string) error {
	if strings.TrimSpace(url) == "" {
		return fmt.Errorf("the database URL is empty; want postgres://user:password@host:5432/database")
	}
	if _, err := pgx.ParseConfig(url); err != nil {
		// pgx's message quotes the URL, password and all, when it cannot
		// tell where the password is: say what is expected instead.
		return fmt.Errorf("the database URL cannot be read; want postgres://user:password@host:5432/database?sslmode=verify-full (or libpq's key=value form), with special characters in the password percent-encoded")
	}
	return nil
}

func validSchema(s string) bool {
	if s == "" || len(s) > maxSchemaLen {
		return false
	}
	for i, c := range s {
		switch {
		case c == '_' || c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// rebindDollar turns ? placeholders into $1, $2, … (outside quoted text).
func rebindDollar(q string) string {
	if !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 8)
	n, quoted := 0, false
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '\'':
			quoted = !quoted
		case c == '?' && !quoted:
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// dbTime scans a time as either database returns it: text in timeLayout
// (or River's SQLite format) from SQLite, a time from PostgreSQL.
type dbTime struct {
	time.Time
	Valid bool
}

func (t *dbTime) Scan(v any) error {
	var s string
	switch x := v.(type) {
	case nil:
		*t = dbTime{}
		return nil
	case time.Time:
		*t = dbTime{x.UTC(), true}
		return nil
	case string:
		s = x
	case []byte:
		s = string(x)
	default:
		return fmt.Errorf("store: cannot read %T as a time", v)
	}
	if s == "" {
		*t = dbTime{}
		return nil
	}
	for _, layout := range []string{timeLayout, time.RFC3339Nano, "2006-01-02 15:04:05.999999999", "2006-01-02 15:04:05"} {
		if p, err := time.Parse(layout, s); err == nil {
			*t = dbTime{p.UTC(), true}
			return nil
		}
	}
	return fmt.Errorf("store: unreadable time %q", s)
}
