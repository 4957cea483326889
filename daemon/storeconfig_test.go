package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/qs-promoter/qs-promoter/store"
)

// The store key: SQLite by default; PostgreSQL with its URL from the
// environment (QSP_DATABASE_URL unless url_env names another) or a file,
// never from the configuration itself.
func TestStoreConfig(t *testing.T) {
	const sites = "sites: [{alias: dev, host: h}]\n"
	t.Run("default", func(t *testing.T) {
		cfg, err := ParseConfig("c.yaml", []byte(sites))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Store.Driver != store.DriverSQLite || cfg.Store.Shared() || cfg.RescueAfter != DefaultRescueAfter {
			t.Fatalf("store %+v, rescue_after %s", cfg.Store, cfg.RescueAfter)
		}
	})
	t.Run("postgres from the default variable", func(t *testing.T) {
		t.Setenv(DefaultStoreURLEnv, "postgres://promoter:s3cret@db.company.com:5432/promoter?sslmode=verify-full\n")
		cfg, err := ParseConfig("c.yaml", []byte(sites+"store: {driver: postgres}\n"))
		if err != nil {
			t.Fatal(err)
		}
		s := cfg.Store
		if !s.Shared() || s.Schema != store.DefaultSchema || s.URLEnv != DefaultStoreURLEnv ||
			s.url != "postgres://promoter:s3cret@db.company.com:5432/promoter?sslmode=verify-full" {
			t.Fatalf("store %+v", s)
		}
		if cfg.RescueAfter != DefaultSharedRescueAfter {
			t.Errorf("rescue_after on PostgreSQL defaults to %s, want %s", cfg.RescueAfter, DefaultSharedRescueAfter)
		}
	})
	t.Run("postgres from a file", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "db.url"), []byte("postgres://u:p@db/promoter\r\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := ParseConfig(filepath.Join(dir, "c.yaml"), []byte(sites+"store:\n  driver: postgres\n  url_file: db.url\n  schema: promoter_ha\nrescue_after: 5m\n"))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Store.url != "postgres://u:p@db/promoter" || cfg.Store.Schema != "promoter_ha" || cfg.RescueAfter != 5*time.Minute {
			t.Fatalf("store %+v rescue_after %s", cfg.Store, cfg.RescueAfter)
		}
	})

	t.Setenv("QSP_TEST_BAD_URL", "postgres://u:s3cret@db:notaport/x")
	t.Setenv("QSP_TEST_EMPTY", "")
	cases := []struct{ name, yaml, want string }{
		{"url in the file", "store:\n  driver: postgres\n  url: postgres://u:s3cret@db/x\n",
			"c.yaml:4:3: store.url: the database URL holds a password and is never read from the config file: put it in the environment variable named by url_env (default QSP_DATABASE_URL) or in the file named by url_file"},
		{"unknown key", "store:\n  driver: postgres\n  url_evn: X\n", `c.yaml:4:3: unknown key "url_evn" in store; did you mean "url_env"? (known: driver, url_env, url_file, schema)`},
		{"driver", "store: {driver: postgresql}\n", `c.yaml:2:17: store.driver: "postgresql" is not one of sqlite, postgres; did you mean "postgres"?`},
		{"driver far off", "store: {driver: mysql}\n", `c.yaml:2:17: store.driver: "mysql" is not one of sqlite, postgres`},
		{"variable not set", "store: {driver: postgres, url_env: QSP_TEST_NOT_SET}\n",
			"c.yaml:2:36: store: the environment variable QSP_TEST_NOT_SET (url_env) is not set; it must hold the database URL (postgres://user:password@host:5432/database). A Windows service does not inherit a shell's environment: set it for the service, or use url_file"},
		{"default variable not set", "store:\n  driver: postgres\n", "c.yaml:3:11: store: the environment variable QSP_DATABASE_URL (url_env) is not set"},
		{"variable empty", "store: {driver: postgres, url_env: QSP_TEST_EMPTY}\n", "c.yaml:2:36: store: the environment variable QSP_TEST_EMPTY (url_env) is not set"},
		{"bad URL", "store: {driver: postgres, url_env: QSP_TEST_BAD_URL}\n",
			"c.yaml:2:36: store: the database URL cannot be read; want postgres://user:password@host:5432/database?sslmode=verify-full (or libpq's key=value form), with special characters in the password percent-encoded (in the environment variable QSP_TEST_BAD_URL)"},
		{"file missing", "store: {driver: postgres, url_file: /nonexistent/db.url}\n",
			"c.yaml:2:37: store.url_file: open /nonexistent/db.url: no such file or directory (the file must be readable by the account the daemon runs as)"},
		{"both", "store: {driver: postgres, url_env: X, url_file: y}\n", "store: give url_env or url_file, not both"},
		{"schema", "store: {driver: postgres, url_env: QSP_TEST_BAD_URL, schema: Promoter}\n",
			`c.yaml:2:62: store.schema "Promoter": use lower-case letters, digits and underscores`},
		{"postgres keys on sqlite", "store: {url_env: QSP_DATABASE_URL, schema: x}\n",
			"c.yaml:2:18: store.url_env: only for driver postgres (driver sqlite keeps its database in state_dir)\nc.yaml:2:44: store.schema: only for driver postgres"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseConfig("c.yaml", []byte(sites+c.yaml))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v\nwant %q", err, c.want)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Fatalf("the error shows the password: %v", err)
			}
		})
	}
}
