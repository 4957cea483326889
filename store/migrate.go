package store

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"

	"github.com/riverqueue/river/rivermigrate"
)

// migrate brings River's tables and the store's to the versions this code
// knows. Each River version is a transaction of its own (PostgreSQL cannot
// use an enum value in the transaction that added it), then the store's own
// versions are one more; every one of them starts with the dialect's lock,
// so processes starting together take turns and none applies a version
// twice, and a failed version changes nothing.
func (s *Store) migrate(ctx context.Context) error {
	migrator, err := rivermigrate.New(s.driver, &rivermigrate.Config{
		Logger: slog.New(riverHandler{s.opts.Log.Handler()}), Schema: s.opts.Schema})
	if err != nil {
		return fmt.Errorf("queue migrations: %w", err)
	}
	for {
		done, err := s.migrateStep(ctx, migrator)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
	}
}

// migrateStep applies River's next version or, when River's are all
// applied, the store's own; done reports the latter.
func (s *Store) migrateStep(ctx context.Context, migrator *rivermigrate.Migrator[*sql.Tx]) (done bool, err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("migrations: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	if err := s.dia.prepareMigrations(ctx, tx); err != nil {
		return false, err
	}
	res, err := migrator.MigrateTx(ctx, tx, rivermigrate.DirectionUp, &rivermigrate.MigrateOpts{MaxSteps: 1})
	if err != nil {
		return false, fmt.Errorf("queue migrations: %w", err)
	}
	if len(res.Versions) == 0 {
		if err := s.migrateOwn(ctx, tx); err != nil {
			return false, err
		}
		done = true
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("migrations: %w", err)
	}
	return done, nil
}

func (s *Store) migrateOwn(ctx context.Context, tx *sql.Tx) error {
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS qsp_migration (version integer PRIMARY KEY, applied_at text NOT NULL)`); err != nil {
		return fmt.Errorf("store migrations: %w", err)
	}
	var version int
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM qsp_migration`).Scan(&version); err != nil {
		return fmt.Errorf("store migrations: %w", err)
	}
	all := s.dia.migrations()
	if version > len(all) {
		return fmt.Errorf("store: the database was migrated by a newer qs-promoter (store version %d; this one knows up to %d): run the newer version", version, len(all))
	}
	for v := version + 1; v <= len(all); v++ {
		if _, err := tx.ExecContext(ctx, all[v-1]); err != nil {
			return fmt.Errorf("store migration %d: %w", v, err)
		}
		if _, err := tx.ExecContext(ctx, s.dia.rebind(`INSERT INTO qsp_migration (version, applied_at) VALUES (?, ?)`), v, formatTime(s.now())); err != nil {
			return fmt.Errorf("store migration %d: %w", v, err)
		}
	}
	if version < len(all) {
		s.opts.Log.Info("store tables migrated", "driver", s.opts.Driver, "from_version", version, "to_version", len(all))
	}
	return nil
}

// checkVersion makes sure a database opened read-only has the tables this
// code reads.
func (s *Store) checkVersion(ctx context.Context) error {
	var version int
	if err := s.db.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM qsp_migration`).Scan(&version); err != nil {
		return fmt.Errorf("store: not a qs-promoter database, or not migrated yet (%v): start serve on it once", err)
	}
	if n := len(s.dia.migrations()); version != n {
		return fmt.Errorf("store: the database is at store version %d and this qs-promoter reads version %d: run the qs-promoter that serves it", version, n)
	}
	return nil
}
