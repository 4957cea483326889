package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/qs-promoter/qs-promoter/store"
)

// appBusyRetry is how soon a job whose app another replica is running is
// tried again (a snooze: it does not count as an attempt).
const appBusyRetry = time.Second

// errAppLeaseLost ends an execution whose app lease could not be kept: a
// job for the same app may start on another replica once it expires.
var errAppLeaseLost = errors.New("the app's lease could not be kept (is the database reachable?); the execution resumes from its checkpoints")

// holdApp makes an execution the only one of its app until release is
// called. Within this process a second job for the app waits for the
// first (d.locks). On a shared database a lease per app, held by this
// execution and renewed while it runs, keeps other replicas out: a job
// whose app another replica is running is snoozed and tried again (and
// work makes one whose app has an earlier evaluation still queued wait for
// it: store.EarlierQueued). The context returned ends when the lease is lost, so the execution stops
// before another can start; its checkpoints let it resume. On SQLite, one
// process, the in-process lock is the whole story.
func (d *Daemon) holdApp(ctx context.Context, job store.Job, log *slog.Logger) (context.Context, func(), error) {
	key := job.Site + "/" + job.AppID
	unlock, err := d.locks.lock(ctx, key)
	if err != nil {
		return nil, nil, store.Snooze(0) // shutting down: run again at the next start
	}
	if d.store.Driver() != store.DriverPostgres {
		return ctx, unlock, nil
	}
	// The holder names the execution: a retry of it (here or, after this
	// replica died and the lease expired, elsewhere) takes the lease back.
	holder := d.replica + " " + job.ExecutionID
	l, ok, err := d.store.AcquireLease(ctx, "app:"+key, holder, d.leaseTTL)
	if err != nil {
		unlock()
		if ctx.Err() != nil {
			return nil, nil, store.Snooze(0)
		}
		return nil, nil, d.storeUnavailable(job, fmt.Errorf("take the app's lease: %w", err), log)
	}
	if !ok {
		unlock()
		log.Debug("another replica is running this app; trying again shortly", "retry_in", appBusyRetry)
		return nil, nil, store.Snooze(appBusyRetry)
	}
	held, lose := context.WithCancelCause(ctx)
	done, ended := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(ended)
		d.keepAppLease(held, l, done, func(err error) { lose(err) })
	}()
	release := func() {
		close(done)
		<-ended
		lose(nil)
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := d.store.ReleaseLease(rctx, l); err != nil {
			log.Warn("could not release the app's lease; it expires by itself", "err", err)
		}
		unlock()
	}
	return held, release, nil
}

// keepAppLease renews an app lease every third of its time to live until
// done is closed; when it cannot (lost, or not renewed before it ends by
// this process's clock), it calls lose.
func (d *Daemon) keepAppLease(ctx context.Context, l store.Lease, done <-chan struct{}, lose func(error)) {
	next := time.NewTimer(d.leaseTTL / 3)
	defer next.Stop()
	for {
		left := l.Until.Sub(d.now()) - d.leaseTTL/10 // a margin, as keepLease
		if left <= 0 {
			lose(errAppLeaseLost)
			return
		}
		end := time.NewTimer(left)
		select {
		case <-done:
			end.Stop()
			return
		case <-ctx.Done():
			end.Stop()
			return
		case <-end.C:
			continue
		case <-next.C:
			end.Stop()
		}
		rctx, cancel := context.WithTimeout(ctx, left)
		renewed, err := d.store.RenewLease(rctx, l, d.leaseTTL)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, store.ErrLeaseLost):
			lose(errAppLeaseLost)
			return
		case err != nil:
			next.Reset(max(d.leaseTTL/15, 10*time.Millisecond))
		default:
			l = renewed
			next.Reset(d.leaseTTL / 3)
		}
	}
}
