// Package store is the daemon's durable state: River's job queue and the
// daemon's own tables — notifications waiting to be evaluated, executions
// and their per-step checkpoints, what was last evaluated per app, per-site
// subscription state, audit records, leases and replicas — in one SQLite
// file (pure Go, modernc.org/sqlite; the default) or in a PostgreSQL schema
// shared by several replicas. Callers never know which: the dialect
// differences live in dialect.go, sqlite.go and postgres.go. Everything the
// daemon promises ("an accepted notification is never lost", "a retried
// execution skips its finished steps") rests on a transaction here.
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
	"github.com/riverqueue/river/riverdriver"
)

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
	CreatedAt   time.Time // when the job was queued (an admin's retry queues a new one)
}

// WorkFunc evaluates one app. Returning Permanent(err) records the failure
// without retrying; any other error is retried with backoff.
type WorkFunc func(ctx context.Context, job Job) error

// Options configure Open.
type Options struct {
	Driver       string        // DriverSQLite (default) or DriverPostgres
	Dir          string        // SQLite: the state folder (created if missing) holding DBFile
	URL          string        // PostgreSQL: libpq URL (postgres://user:password@host:5432/database)
	Schema       string        // PostgreSQL: schema of River's tables and the store's (default DefaultSchema; created when missing)
	Workers      int           // jobs run in parallel
	RescueAfter  time.Duration // a job running longer (without heartbeat) is presumed lost and retried
	MaxAttempts  int           // attempts before an execution is given up
	PollInterval time.Duration // how often idle workers look for jobs (default 200ms)
	Work         WorkFunc      // nil: an insert-only store (tests, tools)
	Log          *slog.Logger
	// Beside opens a database a running daemon may own, for a command
	// beside it (qs-promoter audit export reads it, retry queues a failed
	// execution again): no folder lock, no migrations, no work taken back.
	// It must exist and be at this code's version.
	Beside bool
	// Now is an injectable clock for the times the store records. When
	// set, leases and replica heartbeats use it too; when nil they use the
	// database's clock, which all replicas share.
	Now func() time.Time
	// RetryDelay is the delay after a failed attempt (1 for the first)
	// before the next; default ExponentialDelay. RetryAt spreads it.
	RetryDelay func(attempt int) time.Duration
}

// Store is the open database with its River client.
type Store struct {
	db         *sql.DB
	dia        dialect
	driver     riverdriver.Driver[*sql.Tx]
	closeExtra func()
	river      *river.Client[*sql.Tx]
	lock       *os.File
	opts       Options
	now        func() time.Time
	fixedClock bool // Options.Now was set: leases use it instead of the database's clock
	intake     chan *recordReq
	stmts      statements

	stopOnce sync.Once
	stopped  chan struct{} // closed when the intake loop has ended
	quit     chan struct{}
}

// Open opens (creating if needed) the database and runs River's migrations
// and the store's own, in one transaction under a lock (several replicas
// may start together). On SQLite it first takes an exclusive lock on the
// state folder so that a second daemon cannot share it, and puts back to
// work any execution a previous process left running (with the folder
// locked, nobody else can be running it). On PostgreSQL, shared by
// replicas, only executions whose heartbeat stopped more than RescueAfter
// ago are taken back; a live replica's are left alone.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	fixedClock := opts.Now != nil
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
	if opts.RetryDelay == nil {
		opts.RetryDelay = ExponentialDelay
	}
	dia, err := newDialect(&opts)
	if err != nil {
		return nil, err
	}
	s := &Store{dia: dia, opts: opts, now: opts.Now, fixedClock: fixedClock, intake: make(chan *recordReq, 1024),
		stopped: make(chan struct{}), quit: make(chan struct{})}
	if opts.Beside && opts.Driver == DriverSQLite {
		if _, err := os.Stat(filepath.Join(opts.Dir, DBFile)); err != nil {
			return nil, fmt.Errorf("store: no database in %s (%v): is state_dir right, and has serve run there?", opts.Dir, err)
		}
	}
	if dia.exclusive() && !opts.Beside {
		if err := os.MkdirAll(opts.Dir, 0o750); err != nil {
			return nil, fmt.Errorf("state folder: %w", err)
		}
		if s.lock, err = lockDir(opts.Dir); err != nil {
			return nil, err
		}
	}
	if err := s.open(ctx); err != nil {
		s.closeDB()
		return nil, err
	}
	go s.intakeLoop()
	return s, nil
}

func (s *Store) open(ctx context.Context) error {
	var err error
	if s.db, s.driver, s.closeExtra, err = s.dia.open(ctx); err != nil {
		return err
	}
	if s.opts.Beside {
		if err := s.checkVersion(ctx); err != nil {
			return err
		}
	} else if err := s.migrate(ctx); err != nil {
		return err
	}
	if err := s.prepare(ctx); err != nil {
		return err
	}
	if !s.opts.Beside {
		if err := s.resumeLost(ctx); err != nil {
			return err
		}
	}

	cfg := &river.Config{
		Logger:               slog.New(riverHandler{s.opts.Log.Handler()}),
		MaxAttempts:          s.opts.MaxAttempts,
		RetryPolicy:          retryPolicy{s},
		RescueStuckJobsAfter: s.opts.RescueAfter,
		JobTimeout:           -1, // a promotion of a large app may take long; rescue handles lost jobs
		FetchCooldown:        min(100*time.Millisecond, s.opts.PollInterval),
		FetchPollInterval:    s.opts.PollInterval,
		Schema:               s.opts.Schema,
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
	rc, err := river.NewClient(s.driver, cfg)
	if err != nil {
		return fmt.Errorf("queue client: %w", err)
	}
	s.river = rc
	return nil
}

// resumeLost makes executions left "running" by a dead process available
// now instead of waiting for River's rescuer, unless they have used up
// their attempts: an execution that kills the daemon every time must not do
// so at every start. Which jobs are lost: on SQLite every running one (the
// folder lock proves their process is gone); on a shared database those
// whose heartbeat (see heartbeat) stopped more than RescueAfter ago. On
// SQLite the leases are all expired too: their holders are gone with the
// process, and the new one need not wait for them.
func (s *Store) resumeLost(ctx context.Context) error {
	if s.dia.exclusive() {
		if _, err := s.db.ExecContext(ctx, `UPDATE qsp_lease SET expires_at = acquired_at`); err != nil {
			return fmt.Errorf("expire the leases of the previous process: %w", err)
		}
	}
	n, err := s.rescue(ctx, !s.dia.exclusive())
	if err != nil {
		return fmt.Errorf("resume interrupted executions: %w", err)
	}
	if n > 0 {
		s.opts.Log.Info("resuming executions interrupted by a process that stopped", "count", n)
	}
	return nil
}

// RescueLost makes the executions whose process is gone (no heartbeat for
// RescueAfter: a replica crashed or was cut off) available to any replica
// now, as Open does at start, and returns how many. River's own rescuer
// does the same, but only every 30 s and only on River's leader, which may
// be the replica that died; the daemon's leader calls this more often.
func (s *Store) RescueLost(ctx context.Context) (int64, error) {
	n, err := s.rescue(ctx, true)
	if err != nil {
		return 0, fmt.Errorf("rescue lost executions: %w", err)
	}
	return n, nil
}

// rescue puts lost running jobs back to available (giving up those out of
// attempts); silentOnly limits "lost" to jobs without a recent heartbeat.
func (s *Store) rescue(ctx context.Context, silentOnly bool) (int64, error) {
	lost, args := "", []any{evaluateArgs{}.Kind()}
	if silentOnly {
		lost = ` AND attempted_at < ` + s.dia.riverAgo()
		args = append(args, s.opts.RescueAfter.Seconds())
	}
	if err := s.giveUpCrashLoops(ctx, lost, args); err != nil {
		return 0, err
	}
	res, err := s.db.ExecContext(ctx, s.dia.rebind(`UPDATE river_job SET state = 'available' WHERE state = 'running' AND kind = ?`+lost), args...)
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return n, nil
}

func (s *Store) giveUpCrashLoops(ctx context.Context, lost string, args []any) error {
	rows, err := s.db.QueryContext(ctx, s.dia.rebind(`SELECT id, attempt, `+s.dia.jobArg("execution_id")+` FROM river_job
		WHERE state = 'running' AND kind = ? AND attempt >= max_attempts`+lost), args...)
	if err != nil {
		return fmt.Errorf("look up crash-looping executions: %w", err)
	}
	type lostJob struct {
		id, attempt int64
		exec        string
	}
	var dead []lostJob
	for rows.Next() {
		var l lostJob
		if err := rows.Scan(&l.id, &l.attempt, &l.exec); err != nil {
			rows.Close()
			return fmt.Errorf("look up crash-looping executions: %w", err)
		}
		dead = append(dead, l)
	}
	rows.Close()
	for _, l := range dead {
		msg := fmt.Sprintf("given up: interrupted on each of its %d attempts (the daemon stopped or crashed while running it)", l.attempt)
		s.opts.Log.Error("execution given up", "execution_id", l.exec, "attempts", l.attempt)
		if _, err := s.db.ExecContext(ctx, s.dia.rebind(`UPDATE river_job SET state = 'discarded', finalized_at = `+s.dia.riverNow()+` WHERE id = ? AND state = 'running'`), l.id); err != nil {
			return fmt.Errorf("give up execution %s: %w", l.exec, err)
		}
		if _, err := s.db.ExecContext(ctx, s.dia.rebind(`UPDATE qsp_execution SET state = 'failed', error = ?, finished_at = ? WHERE id = ?`),
			msg, s.dia.timeArg(s.now()), l.exec); err != nil {
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

// Close stops intake and closes the database (and the SQLite folder lock).
// Call Drain first when jobs are being worked.
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
	if s.closeExtra != nil {
		s.closeExtra()
	}
	if s.lock != nil {
		err = errors.Join(err, unlockDir(s.lock))
	}
	return err
}

// Driver names the database underneath (DriverSQLite or DriverPostgres),
// for status pages.
func (s *Store) Driver() string { return s.opts.Driver }

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
