package store

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/qs-promoter/qs-promoter/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

// testDB is one database a test runs on: SQLite in a temporary folder, or
// a schema of its own on the test binary's PostgreSQL server.
type testDB struct {
	driver      string
	dir         string
	url, schema string
}

// eachDB runs f on SQLite and on PostgreSQL, as subtests.
func eachDB(t *testing.T, f func(t *testing.T, db testDB)) {
	t.Run(DriverSQLite, func(t *testing.T) { f(t, testDB{driver: DriverSQLite, dir: t.TempDir()}) })
	t.Run(DriverPostgres, func(t *testing.T) { f(t, postgresDB(t)) })
}

func postgresDB(t testing.TB) testDB {
	u, schema := storetest.Postgres(t)
	return testDB{driver: DriverPostgres, url: u, schema: schema}
}

func (db testDB) options(work WorkFunc) Options {
	return Options{Driver: db.driver, Dir: db.dir, URL: db.url, Schema: db.schema, Work: work,
		PollInterval: 20 * time.Millisecond, MaxAttempts: 3}
}

func (db testDB) open(t testing.TB, work WorkFunc) *Store {
	t.Helper()
	return db.openWith(t, db.options(work))
}

func (db testDB) openWith(t testing.TB, o Options) *Store {
	t.Helper()
	s, err := Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// exec runs test SQL written with ? placeholders.
func exec(t testing.TB, s *Store, q string, args ...any) {
	t.Helper()
	if _, err := s.db.Exec(s.dia.rebind(q), args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func queryRow(t testing.TB, s *Store, q string, args []any, dest ...any) {
	t.Helper()
	if err := s.db.QueryRow(s.dia.rebind(q), args...).Scan(dest...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// pendingJob returns the job waiting for an app, as River would hand it.
func pendingJob(t testing.TB, s *Store, site, app string) Job {
	t.Helper()
	job := Job{Site: site, AppID: app, Attempt: 1, MaxAttempts: 3}
	queryRow(t, s, `SELECT job_id, execution_id FROM qsp_pending_app WHERE site = ? AND app_id = ?`, []any{site, app}, &job.ID, &job.ExecutionID)
	return job
}
