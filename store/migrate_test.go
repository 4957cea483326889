package store

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
)

// A database made by the first release (River's tables and the store's,
// unnumbered) is adopted as version 1 and migrated, keeping its data.
func TestFirstReleaseDatabaseIsMigrated(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := sql.Open("sqlite", "file:"+filepath.ToSlash(filepath.Join(dir, DBFile)))
	if err != nil {
		t.Fatal(err)
	}
	m, err := rivermigrate.New(riversqlite.New(db), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		t.Fatal(err)
	}
	schema, err := os.ReadFile("testdata/first-release-schema.sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{string(schema),
		`INSERT INTO qsp_site (alias, token, handles) VALUES ('dev', 'tok', '["h1"]')`,
		`INSERT INTO qsp_execution (id, job_id, site, app_id, state, started_at, finished_at, kinds, summary)
			VALUES ('20260101T000000.000Z-00000000', 1, 'dev', 'a', 'acted', '2026-01-01T00:00:00.000000000Z', '2026-01-01T00:00:01.000000000Z', 'updated', 'matched: approval')`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	s := testDB{driver: DriverSQLite, dir: dir}.open(t, nil)
	defer s.Close()
	if tok, _ := s.SiteToken(ctx, "dev"); tok != "tok" {
		t.Errorf("token %q", tok)
	}
	if hs, _ := s.Handles(ctx, "dev"); len(hs) != 1 || hs[0] != "h1" {
		t.Errorf("handles %v", hs)
	}
	page, err := s.Executions(ctx, ExecutionQuery{State: "acted"})
	if err != nil || len(page.Executions) != 1 || page.Executions[0].Summary != "matched: approval" || page.Executions[0].FinishedAt.IsZero() {
		t.Fatalf("old execution %+v %v", page, err)
	}
	var versions string
	queryRow(t, s, `SELECT group_concat(version) FROM qsp_migration`, nil, &versions)
	if want := strings.Join(migrationVersions(), ","); versions != want {
		t.Errorf("store versions %q", versions)
	}
}

// A database migrated by a newer release is refused with a message saying
// so, rather than used with tables this code does not know.
func TestNewerDatabaseIsRefused(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		s := db.open(t, nil)
		exec(t, s, `INSERT INTO qsp_migration (version, applied_at) VALUES (99, 'x')`)
		s.Close()
		_, err := Open(context.Background(), db.options(nil))
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("migrated by a newer qs-promoter (store version 99; this one knows up to %d)", len(sqliteMigrations))) {
			t.Fatalf("got %v", err)
		}
	})
}

// Replicas starting together on a new schema take turns migrating: all
// open, and every version is applied once.
func TestReplicasStartingTogetherMigrateOnce(t *testing.T) {
	db := postgresDB(t)
	var wg sync.WaitGroup
	stores := make([]*Store, 4)
	errs := make([]error, 4)
	for i := range stores {
		wg.Go(func() { stores[i], errs[i] = Open(context.Background(), db.options(nil)) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
		defer stores[i].Close()
	}
	var n, river int
	queryRow(t, stores[0], `SELECT count(*) FROM qsp_migration`, nil, &n)
	queryRow(t, stores[0], `SELECT count(*) FROM river_migration`, nil, &river)
	if n != len(postgresMigrations) || river == 0 {
		t.Fatalf("%d store versions and %d River versions recorded", n, river)
	}
}

func TestOpenRefusesBadOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{"driver", Options{Driver: "mysql", Dir: "x"}, `store: unknown driver "mysql" (use "sqlite" or "postgres")`},
		{"no folder", Options{}, `store: the SQLite store needs a state folder (Options.Dir)`},
		{"no URL", Options{Driver: "postgres"}, `store: driver postgres needs a database URL (postgres://user:password@host:5432/database)`},
		{"schema", Options{Driver: "postgres", URL: "postgres://x@localhost/db", Schema: "Promoter-1"},
			`store: schema "Promoter-1": use lower-case letters, digits and underscores, starting with a letter or underscore, at most 40 characters`},
		{"schema starts with a digit", Options{Driver: "postgres", URL: "postgres://x@localhost/db", Schema: "1promoter"},
			`store: schema "1promoter": use lower-case letters`},
		{"URL", Options{Driver: "postgres", URL: "postgres://user:s3cret@localhost:notaport/db"}, `store: the database URL cannot be read; want postgres://`},
		{"URL with a bare % in the password", Options{Driver: "postgres", URL: "postgres://user:s3cret%@localhost/db"}, `store: the database URL cannot be read; want postgres://`},
		{"unreachable", Options{Driver: "postgres", URL: "postgres://user:s3cret@127.0.0.1:1/qsp?connect_timeout=5"},
			`store: connect to PostgreSQL at 127.0.0.1:1 (database "qsp", user "user"): `},
	} {
		_, err := Open(context.Background(), tc.o)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %s…", tc.name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: the error shows the password: %v", tc.name, err)
		}
	}
}

// migrationVersions lists the store's versions, "1" to the newest.
func migrationVersions() []string {
	var out []string
	for v := range sqliteMigrations {
		out = append(out, strconv.Itoa(v+1))
	}
	return out
}
