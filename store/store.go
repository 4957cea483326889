// Package store is the daemon's durable state: one SQLite file (pure Go,
// modernc.org/sqlite) holding River's job queue and the daemon's own tables —
// notifications waiting to be evaluated, executions and their per-step
// checkpoints, what was last evaluated per app, and per-site subscription
// state. Everything the daemon promises ("an accepted notification is never
// lost", "a retried execution skips its finished steps") rests on a
// transaction here.
package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver (no cgo)
)

// DBFile is the database's file name inside the state folder.
const DBFile = "promoter.db"

// Job is one evaluation of one app, as River hands it to the worker. Its
// ExecutionID is fixed when the job is created, so every retry of the job
// is the same execution and finds the same checkpoints.
type Job struct {
	ID          int64
	ExecutionID string
	Site        string
	AppID       string
	Attempt     int
	MaxAttempts int
}

// WorkFunc evaluates one app. Returning Permanent(err) records the failure
// without retrying; any other error is retried with backoff.
type WorkFunc func(ctx context.Context, job Job) error

// Options configure Open.
type Options struct {
	Dir          string        // the state folder (created if missing)
	Workers      int           // jobs run in parallel
	RescueAfter  time.Duration // a job running longer is presumed lost and retried
	MaxAttempts  int           // attempts before an execution is given up
	PollInterval time.Duration // how often idle workers look for jobs (default 200ms)
	Work         WorkFunc      // nil: an insert-only store (tests, tools)
	Log          *slog.Logger
	Now          func() time.Time // injectable clock for received times
}

// Store is the open database with its River client.
type Store struct {
	db     *sql.DB
	river  *river.Client[*sql.Tx]
	lock   *os.File
	opts   Options
	now    func() time.Time
	intake chan *recordReq
	stmts  statements

	stopOnce sync.Once
	stopped  chan struct{} // closed when the intake loop has ended
	quit     chan struct{}
}

// Open opens (creating if needed) the state folder's database, takes an
// exclusive lock on the folder so that a second daemon cannot share it, runs
// River's migrations and the store's own, and puts back to work any
// execution a previous process left running (it crashed or was killed: with
// the folder locked, nobody else can be running it).
func Open(ctx context.Context, opts Options) (*Store, error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Workers <= 0 {
		opts.Workers = 4
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 10
	}
	if opts.RescueAfter <= 0 {
		opts.RescueAfter = 10 * time.Minute
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = 200 * time.Millisecond
	}
	if err := os.MkdirAll(opts.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("state folder: %w", err)
	}
	lock, err := lockDir(opts.Dir)
	if err != nil {
		return nil, err
	}
	s := &Store{lock: lock, opts: opts, now: opts.Now, intake: make(chan *recordReq, 1024),
		stopped: make(chan struct{}), quit: make(chan struct{})}
	if err := s.open(ctx); err != nil {
		s.closeDB()
		return nil, err
	}
	go s.intakeLoop()
	return s, nil
}

func (s *Store) open(ctx context.Context) error {
	path := filepath.Join(s.opts.Dir, DBFile)
	// WAL with synchronous=FULL: a commit is on disk when it returns, which
	// is what "202 Accepted" promises. One connection: SQLite allows one
	// writer and River's SQLite driver asks for it.
	dsn := "file:" + filepath.ToSlash(path) +
		"?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	s.db = db
	if err := db.PingContext(ctx); err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		return fmt.Errorf("protect %s: %w", path, err)
	}
	driver := riversqlite.New(db)
	migrator, err := rivermigrate.New(driver, &rivermigrate.Config{Logger: slog.New(riverHandler{s.opts.Log.Handler()})})
	if err != nil {
		return fmt.Errorf("queue migrations: %w", err)
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("queue migrations: %w", err)
	}
	if _, err := db.ExecContext(ctx, schema); err != nil {
		return fmt.Errorf("store schema: %w", err)
	}
	if err := s.prepare(ctx); err != nil {
		return err
	}
	// Jobs left "running" belong to a dead process (the folder lock proves
	// it): make them available now instead of waiting for River's rescuer,
	// unless they have used up their attempts: an execution that kills the
	// daemon every time must not do so at every start.
	if err := s.giveUpCrashLoops(ctx); err != nil {
		return err
	}
	res, err := db.ExecContext(ctx, `UPDATE river_job SET state = 'available' WHERE state = 'running' AND kind = ?`,
		evaluateArgs{}.Kind())
	if err != nil {
		return fmt.Errorf("resume interrupted executions: %w", err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		s.opts.Log.Info("resuming executions interrupted by the previous run", "count", n)
	}

	cfg := &river.Config{
		Logger:               slog.New(riverHandler{s.opts.Log.Handler()}),
		MaxAttempts:          s.opts.MaxAttempts,
		RescueStuckJobsAfter: s.opts.RescueAfter,
		JobTimeout:           -1, // a promotion of a large app may take long; rescue handles lost jobs
		FetchCooldown:        min(100*time.Millisecond, s.opts.PollInterval),
		FetchPollInterval:    s.opts.PollInterval,
		// Keep finished jobs a while for the status page and for looking
		// into a problem; executions keep their own longer record.
		CompletedJobRetentionPeriod: 24 * time.Hour,
	}
	if s.opts.Work != nil {
		workers := river.NewWorkers()
		river.AddWorker(workers, &evaluateWorker{work: s.opts.Work, s: s})
		cfg.Workers = workers
		cfg.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: s.opts.Workers}}
	}
	rc, err := river.NewClient(driver, cfg)
	if err != nil {
		return fmt.Errorf("queue client: %w", err)
	}
	s.river = rc
	return nil
}

func (s *Store) giveUpCrashLoops(ctx context.Context) error {
	rows, err := s.db.QueryContext(ctx, `SELECT id, attempt, json_extract(args, '$.execution_id') FROM river_job
		WHERE state = 'running' AND kind = ? AND attempt >= max_attempts`, evaluateArgs{}.Kind())
	if err != nil {
		return fmt.Errorf("resume interrupted executions: %w", err)
	}
	type lost struct {
		id, attempt int64
		exec        string
	}
	var dead []lost
	for rows.Next() {
		var l lost
		if err := rows.Scan(&l.id, &l.attempt, &l.exec); err != nil {
			rows.Close()
			return fmt.Errorf("resume interrupted executions: %w", err)
		}
		dead = append(dead, l)
	}
	rows.Close()
	for _, l := range dead {
		msg := fmt.Sprintf("given up: interrupted on each of its %d attempts (the daemon stopped or crashed while running it)", l.attempt)
		s.opts.Log.Error("execution given up", "execution_id", l.exec, "attempts", l.attempt)
		if _, err := s.db.ExecContext(ctx, `UPDATE river_job SET state = 'discarded', finalized_at = datetime('now', 'subsec') WHERE id = ?`, l.id); err != nil {
			return fmt.Errorf("give up execution %s: %w", l.exec, err)
		}
		if _, err := s.db.ExecContext(ctx, `UPDATE qsp_execution SET state = 'failed', error = ?, finished_at = ? WHERE id = ?`,
			msg, formatTime(s.now()), l.exec); err != nil {
			return fmt.Errorf("give up execution %s: %w", l.exec, err)
		}
	}
	return nil
}

// Start starts working jobs (no-op for an insert-only store).
func (s *Store) Start(ctx context.Context) error {
	if s.opts.Work == nil {
		return nil
	}
	return s.river.Start(ctx)
}

// Drain stops taking new jobs and waits for running ones until ctx ends;
// then it cancels them (their checkpoints let the next start resume).
func (s *Store) Drain(ctx context.Context) error {
	if s.opts.Work == nil {
		return nil
	}
	err := s.river.Stop(ctx)
	if err != nil && ctx.Err() != nil {
		hard, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return errors.Join(err, s.river.StopAndCancel(hard))
	}
	return err
}

// Close stops intake and closes the database and the folder lock. Call Drain
// first when jobs are being worked.
func (s *Store) Close() error {
	s.stopOnce.Do(func() { close(s.quit) })
	<-s.stopped
	return s.closeDB()
}

func (s *Store) closeDB() error {
	var err error
	if s.db != nil {
		err = s.db.Close()
	}
	if s.lock != nil {
		err = errors.Join(err, unlockDir(s.lock))
	}
	return err
}

// Ping checks that the database answers (for readiness).
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// Permanent marks a work error as not worth retrying: the execution is
// recorded as failed and the job is not attempted again.
func Permanent(err error) error { return river.JobCancel(err) }

// Snooze puts a job back to run again after d without counting an attempt
// (e.g. the daemon is shutting down mid-wait).
func Snooze(d time.Duration) error { return river.JobSnooze(d) }

// newExecutionID returns a unique, time-sortable execution id.
func newExecutionID(now time.Time) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return now.UTC().Format("20060102T150405.000Z") + "-" + hex.EncodeToString(b[:])
}

// NewToken returns a random secret for callback URLs.
func NewToken() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// schema holds the store's own tables (River has its own river_* tables).
const schema = `
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
`

// riverHandler passes River's own log lines at warning level and above, and
// all of them when debug logging is on: its routine info lines (migrations,
// job counts every few seconds) are noise to an admin reading the log.
type riverHandler struct{ slog.Handler }

func (h riverHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return (l >= slog.LevelWarn || h.Handler.Enabled(ctx, slog.LevelDebug)) && h.Handler.Enabled(ctx, l)
}

func (h riverHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return riverHandler{h.Handler.WithAttrs(as)}
}

func (h riverHandler) WithGroup(name string) slog.Handler {
	return riverHandler{h.Handler.WithGroup(name)}
}
