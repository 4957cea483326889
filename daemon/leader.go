package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync"
	"time"

	"github.com/qs-promoter/qs-promoter/store"
)

// Several replicas may share one PostgreSQL database. Every replica accepts
// the callbacks it receives and runs executions; exactly one, the leader,
// holds the QRS subscriptions (with its own callback_url), renews them,
// checks the sites' health, catches up, rescues the executions of a replica
// that died and prunes. Leadership is a lease in the database: renewed on a
// timer, and given up the moment it cannot be renewed, so that a leader cut
// off from the database stops before another can take over. Followers try
// to take it on a timer. On SQLite the one daemon takes the lease at once
// (the store expires the previous process's at start): the same code runs.

// leaderLease is the name of the lease whose holder leads.
const leaderLease = "leader"

// DefaultLeaderTTL is how long the leader lease lasts unless renewed (it is
// renewed every third of it): a dead leader is replaced within about this
// long, plus a follower's retry interval.
const DefaultLeaderTTL = 15 * time.Second

// replicaForgetAfter is how long a silent replica (crashed, or cut off)
// stays listed on /status before the leader forgets it.
const replicaForgetAfter = 10 * time.Minute

// leadership is whether this replica leads, and under which term.
type leadership struct {
	mu    sync.Mutex
	lease *store.Lease // nil: following
}

// newReplicaID names this process among the replicas: its host and a random
// part, so that a restarted replica is a new holder of its leases.
func newReplicaID(instance string) string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "replica"
	}
	return host + "/" + instance[:8]
}

// isLeader reports whether this replica leads now.
func (d *Daemon) isLeader() bool {
	d.lead.mu.Lock()
	defer d.lead.mu.Unlock()
	return d.lead.lease != nil
}

// fence returns the writes only the leader may make, under its current
// term; ok is false when this replica does not lead. The store refuses them
// (store.ErrLeaseLost) once the term has ended, whoever calls.
func (d *Daemon) fence() (f store.Fenced, ok bool) {
	d.lead.mu.Lock()
	defer d.lead.mu.Unlock()
	if d.lead.lease == nil {
		return store.Fenced{}, false
	}
	return d.store.Fenced(*d.lead.lease), true
}

// errNotLeader is returned by a leader's write attempted by a follower.
var errNotLeader = fmt.Errorf("this replica does not lead: %w", store.ErrLeaseLost)

// setCatchupMark records a site's catch-up mark, as the leader.
func (d *Daemon) setCatchupMark(ctx context.Context, alias, mark string) error {
	f, ok := d.fence()
	if !ok {
		return errNotLeader
	}
	return f.SetCatchupMark(ctx, alias, mark)
}

// setHandles records a site's subscription handles, as the leader.
func (d *Daemon) setHandles(ctx context.Context, alias string, handles []string) error {
	f, ok := d.fence()
	if !ok {
		return errNotLeader
	}
	return f.SetHandles(ctx, alias, handles)
}

// pruneExecutions, on the leader, deletes old execution records at the
// start of its term and once a day.
func (d *Daemon) pruneExecutions(ctx context.Context) {
	t := time.NewTicker(24 * time.Hour)
	defer t.Stop()
	for {
		if f, ok := d.fence(); ok {
			if n, err := f.Prune(ctx, d.now().Add(-retention)); err != nil && ctx.Err() == nil && !errors.Is(err, store.ErrLeaseLost) {
				d.log.Warn("pruning old executions failed", "err", err)
			} else if n > 0 {
				d.log.Info("pruned old executions", "count", n)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// electEvery is how often a follower tries to take the leader lease (with
// some jitter, so that replicas do not all ask at once).
func (d *Daemon) electEvery() time.Duration {
	base := d.leaseTTL / 3
	return base + rand.N(base/5+1)
}

// elect runs for the daemon's life: it takes the leader lease when it is
// free, leads while it holds it, and tries again on a timer.
func (d *Daemon) elect(ctx context.Context) {
	for {
		l, ok, err := d.store.AcquireLease(ctx, leaderLease, d.replica, d.leaseTTL)
		if ctx.Err() != nil {
			return
		}
		d.db.set(d, err)
		if ok {
			d.leadTerm(ctx, l)
			if ctx.Err() != nil {
				return
			}
		}
		t := time.NewTimer(d.electEvery())
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// leadTerm is one term of leadership: it starts the leader's work, keeps
// the lease, and stops the work at once when the lease is lost. At
// shutdown it unsubscribes (under the lease) and releases the lease, so
// that another replica need not wait for it to expire.
func (d *Daemon) leadTerm(ctx context.Context, l store.Lease) {
	d.log.Info("leading: this replica holds the subscriptions, checks the sites, catches up and prunes", "replica", d.replica, "term", l.Term)
	d.lead.mu.Lock()
	held := l // keepLease updates l; fence reads this copy under the lock
	d.lead.lease = &held
	// Whatever the view said, this leader subscribes anew with its own
	// callback_url; the recorded handles (a previous leader's) are deleted
	// once its own are made.
	for _, s := range d.order {
		s.mu.Lock()
		s.handles, s.subscribedAt, s.resubscribe = nil, time.Time{}, true
		s.published, s.publishedAt = store.SiteHealth{}, time.Time{}
		s.mu.Unlock()
	}
	d.lead.mu.Unlock()
	d.metrics.leader.Set(1)

	work, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, s := range d.order {
		wg.Go(func() { d.keepSite(work, s) })
		if s.watch {
			wg.Go(func() { d.catchupLoop(work, s) })
		}
	}
	wg.Go(func() { d.rescueLoop(work) })
	wg.Go(func() { d.pruneExecutions(work) })

	why := d.keepLease(ctx, &l)
	if why != "" {
		// Stop at once: another replica may take over when the lease ends.
		d.lead.mu.Lock()
		d.lead.lease = nil
		d.lead.mu.Unlock()
		d.metrics.leader.Set(0)
		d.log.Warn("stopped leading: "+why, "replica", d.replica, "term", l.Term)
		stop()
		wg.Wait()
		return
	}
	stop()
	wg.Wait()
	dctx, cancel := context.WithTimeout(context.Background(), d.cfg.DrainTimeout)
	defer cancel()
	d.unsubscribeAll(dctx)
	d.lead.mu.Lock()
	d.lead.lease = nil
	d.lead.mu.Unlock()
	d.metrics.leader.Set(0)
	if err := d.store.ReleaseLease(dctx, l); err != nil {
		d.log.Warn("could not give up leadership; another replica takes over when it expires", "err", err)
	}
}

// keepLease renews the leader lease every third of its time to live until
// ctx ends (it returns "") or the lease is lost (it returns why): refused
// because another replica holds it, or not renewed before its end by this
// process's clock (the database is unreachable), so that this replica
// stops leading before another can start.
func (d *Daemon) keepLease(ctx context.Context, l *store.Lease) (why string) {
	next := time.NewTimer(d.leaseTTL / 3)
	defer next.Stop()
	failing := false
	for {
		// A margin before the lease's end: stopping takes a moment, and
		// the machines' clocks may run at slightly different rates.
		left := l.Until.Sub(d.now()) - d.leaseTTL/10
		if left <= 0 {
			return "the leader lease could not be renewed in time (is the database reachable?)"
		}
		end := time.NewTimer(left)
		select {
		case <-ctx.Done():
			end.Stop()
			return ""
		case <-end.C:
			continue
		case <-next.C:
			end.Stop()
		}
		rctx, cancel := context.WithTimeout(ctx, left)
		renewed, err := d.store.RenewLease(rctx, *l, d.leaseTTL)
		cancel()
		switch {
		case ctx.Err() != nil:
			return ""
		case errors.Is(err, store.ErrLeaseLost):
			d.db.set(d, nil)
			return "the leader lease was lost (another replica holds it)"
		case err != nil:
			d.db.set(d, err)
			level := slog.LevelWarn
			if failing {
				level = slog.LevelDebug
			}
			failing = true
			d.log.Log(ctx, level, "could not renew the leader lease; trying again until it ends", "err", err, "leads_until", l.Until)
			next.Reset(max(d.leaseTTL/15, 10*time.Millisecond))
		default:
			failing = false
			d.db.set(d, nil)
			*l = renewed
			d.lead.mu.Lock()
			d.lead.lease = &renewed
			d.lead.mu.Unlock()
			next.Reset(d.leaseTTL / 3)
		}
	}
}

// rescueLoop, on the leader, takes back the executions of replicas that
// died mid-execution (no heartbeat for rescue_after) so that a live replica
// resumes them from their checkpoints, and forgets replicas long silent.
func (d *Daemon) rescueLoop(ctx context.Context) {
	t := time.NewTicker(max(d.rescueAfter/8, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n, err := d.store.RescueLost(ctx); err != nil && ctx.Err() == nil {
			d.log.Warn("could not look for executions of a replica that stopped", "err", err)
		} else if n > 0 {
			d.log.Warn("resuming executions whose replica stopped marking them alive", "count", n, "rescue_after", d.rescueAfter)
		}
		if n, err := d.store.PruneReplicas(ctx, replicaForgetAfter); err == nil && n > 0 {
			d.log.Info("forgot replicas silent for long", "count", n, "silent_for", replicaForgetAfter)
		}
	}
}

// keepReplica registers this replica and marks it alive every third of the
// lease time, with the policy revision it runs; a follower also refreshes
// its view of the sites from what the leader published. A failed heartbeat
// marks the database unreachable (callbacks are refused until it answers).
func (d *Daemon) keepReplica(ctx context.Context) {
	registered := false
	t := time.NewTicker(d.leaseTTL / 3)
	defer t.Stop()
	for {
		rev := d.rules.Status().Revision
		var err error
		if registered {
			err = d.store.ReplicaHeartbeat(ctx, d.replica, rev)
		}
		if !registered || err != nil && !errors.Is(err, context.Canceled) {
			// Registering again is right after a failed heartbeat too: the
			// leader may have forgotten this replica while it was cut off.
			err = d.store.RegisterReplica(ctx, store.Replica{ID: d.replica, Listen: d.Addr(), CallbackURL: d.cfg.CallbackURL, Revision: rev})
			registered = err == nil
		}
		if ctx.Err() != nil {
			return
		}
		d.db.set(d, err)
		if err == nil && !d.isLeader() {
			if err := d.refreshSiteView(ctx); err != nil && ctx.Err() == nil {
				d.log.Debug("could not read the leader's view of the sites", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// refreshSiteView copies the leader's published view of each site (health,
// subscriptions, catch-up) into this follower's, for its status, readiness
// and siteDown.
func (d *Daemon) refreshSiteView(ctx context.Context) error {
	health, err := d.store.SiteHealth(ctx)
	if err != nil {
		return err
	}
	handles := map[string][]string{}
	for _, s := range d.order {
		if s.watch {
			if handles[s.alias], err = d.store.Handles(ctx, s.alias); err != nil {
				return err
			}
		}
	}
	d.lead.mu.Lock()
	defer d.lead.mu.Unlock()
	if d.lead.lease != nil {
		return nil // it leads now: its own checks are the view
	}
	now := d.now()
	for _, s := range d.order {
		h, ok := health[s.alias]
		if !ok {
			continue
		}
		s.mu.Lock()
		s.checked, s.up, s.lastCheck, s.lastErr = !h.CheckedAt.IsZero(), h.Up, h.CheckedAt, h.Error
		s.seenAt = now.Add(-h.Age)
		s.handles, s.subscribedAt = handles[s.alias], h.SubscribedAt
		s.lastCatchup, s.catchupQueued, s.catchupErr = h.LastCatchup, h.CatchupQueued, h.CatchupError
		s.mu.Unlock()
		up := 0.0
		if h.Up {
			up = 1
		}
		d.metrics.siteUp.WithLabelValues(s.alias).Set(up)
	}
	return nil
}

// publishSite publishes the leader's view of a site for the other
// replicas: when it changed, and otherwise every third of the lease time,
// so that they can tell a live leader's view from a dead one's without a
// write at every health check. A failure is the database's: the next
// round publishes again.
func (d *Daemon) publishSite(ctx context.Context, s *site) {
	f, ok := d.fence()
	if !ok {
		return
	}
	s.mu.Lock()
	h := store.SiteHealth{Up: s.up, CheckedAt: s.lastCheck, Error: s.lastErr, SubscribedAt: s.subscribedAt,
		LastCatchup: s.lastCatchup, CatchupQueued: s.catchupQueued, CatchupError: s.catchupErr}
	last, lastAt := s.published, s.publishedAt
	checked := s.checked
	s.mu.Unlock()
	last.CheckedAt = h.CheckedAt
	if !checked || last == h && d.now().Sub(lastAt) < d.leaseTTL/3 {
		return
	}
	err := f.SetSiteHealth(ctx, s.alias, h)
	if err == nil {
		s.mu.Lock()
		s.published, s.publishedAt = h, d.now()
		s.mu.Unlock()
	}
	if ctx.Err() != nil || errors.Is(err, store.ErrLeaseLost) {
		return
	}
	d.db.set(d, err) // a failure is the database's: logged once, not every round
	if err != nil {
		d.log.Debug("could not publish the site's health for the other replicas", "site", s.alias, "err", err)
	}
}

// siteDown reports whether a site is known to be down: the leader's last
// health check of it (this replica's own when it leads) failed, and that
// check is recent. Not knowing (never checked, or the view of a leader
// that died long ago) is not down.
func (d *Daemon) siteDown(alias string) bool {
	s := d.sites[alias]
	if s == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.checked && !s.up && d.now().Sub(s.seenAt) <= d.staleAfter()
}

// staleAfter is how old a site's last health check may be before nobody
// can say whether it is up: the leader checks every health_interval, and a
// dead leader is replaced within about a lease time.
func (d *Daemon) staleAfter() time.Duration {
	return 2*d.cfg.HealthInterval + d.leaseTTL + 15*time.Second
}

// dbHealth is whether this replica reaches its database, as its last
// contact (heartbeat, lease, recording a callback) found it.
type dbHealth struct {
	mu  sync.Mutex
	err error
}

// set records the outcome of a contact with the database, logging a change.
func (h *dbHealth) set(d *Daemon, err error) {
	if errors.Is(err, context.Canceled) {
		return
	}
	h.mu.Lock()
	was := h.err
	h.err = err
	h.mu.Unlock()
	switch {
	case err != nil && was == nil:
		d.log.Error("the database is unreachable: not ready and refusing callbacks until it answers (a leader stops leading when its lease ends)", "err", err)
	case err == nil && was != nil:
		d.log.Info("the database answers again")
	}
}

// problem says why the database is taken as unreachable ("" when it is not).
func (h *dbHealth) problem() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.err == nil {
		return ""
	}
	return "database unreachable: " + h.err.Error()
}
