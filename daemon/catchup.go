package daemon

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"time"

	"github.com/qs-promoter/qs-promoter/engine"
	"github.com/qs-promoter/qs-promoter/qrs"
	"github.com/qs-promoter/qs-promoter/store"
)

// catchupLoop runs catch-up for a watched site when asked (after each
// (re)subscription that followed an outage or the start) and every
// catchup_interval, on the leader (its mark is a leader's write).
func (d *Daemon) catchupLoop(ctx context.Context, s *site) {
	t := time.NewTicker(d.cfg.CatchupInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.kick:
		case <-t.C:
		}
		s.mu.Lock()
		up := s.up
		s.mu.Unlock()
		if !up {
			continue // the health check kicks us when it is back
		}
		n, err := d.catchUp(ctx, s)
		s.mu.Lock()
		s.lastCatchup, s.catchupQueued = d.now(), n
		s.catchupErr = ""
		if err != nil {
			s.catchupErr = err.Error()
		}
		s.mu.Unlock()
		if err != nil && ctx.Err() == nil {
			d.metrics.catchupErrors.WithLabelValues(s.alias).Inc()
			d.log.Error("catch-up failed", "site", s.alias, "err", err)
		}
	}
}

// catchUp lists the apps modified since the site's mark and queues each as
// a `reconciled` event, unless its current state was already evaluated or
// was written by the daemon itself. The mark is QRS's own modifiedDate
// text, so the daemon's clock never matters. On the very first run there
// is no mark: it is set to the newest app's modifiedDate and nothing is
// queued (a first start does not act on the whole site's history).
//
// The list is read app by app as it arrives and reduced on the fly (the
// newest modifiedDate; the apps to queue, recorded in batches), so a site
// of 50,000 apps costs the memory of one app and one batch.
func (d *Daemon) catchUp(ctx context.Context, s *site) (int, error) {
	mark, err := d.store.CatchupMark(ctx, s.alias)
	if err != nil {
		return 0, err
	}
	var f *qrs.Filter
	if mark != "" {
		f = qrs.Gt("modifiedDate", qrs.ParseTime(mark))
	}
	newest, newestAt := mark, qrs.ParseTime(mark)
	listed, queued := 0, 0
	var ns []store.Notification
	record := func() error {
		if len(ns) == 0 {
			return nil
		}
		rec, err := d.store.Record(ctx, ns)
		if err != nil {
			return err
		}
		queued += len(ns)
		d.metrics.catchupQueued.WithLabelValues(s.alias).Add(float64(len(ns)))
		d.metrics.coalesced.WithLabelValues(s.alias).Add(float64(rec.Coalesced))
		ns = ns[:0]
		return nil
	}
	err = s.client.EachApp(ctx, f, func(a *qrs.App) error {
		listed++
		if t := qrs.ParseTime(a.ModifiedDate); t.After(newestAt) {
			newest, newestAt = a.ModifiedDate, t
		}
		if mark == "" {
			return nil
		}
		n, ok, err := d.reconciled(ctx, s, mark, a)
		if err != nil || !ok {
			return err
		}
		ns = append(ns, n)
		if len(ns) >= catchupBatch {
			return record()
		}
		return nil
	})
	if err == nil {
		err = record()
	}
	if err != nil {
		return queued, err
	}
	if mark == "" {
		if newest == "" {
			// A site without apps: every app that appears later is a change.
			newest = emptySiteMark
		}
		d.log.Info("first catch-up: changes from now on are caught up", "site", s.alias, "apps", listed, "mark", newest)
		return 0, d.setCatchupMark(ctx, s.alias, newest)
	}
	if queued > 0 {
		d.log.Info("catch-up queued apps changed since the last check", "site", s.alias, "apps", queued, "since", mark)
	}
	return queued, d.setCatchupMark(ctx, s.alias, newest)
}

// emptySiteMark is the catch-up mark of a site that had no app at the
// first catch-up: any app found later was made since.
const emptySiteMark = "1970-01-01T00:00:00.000Z"

// catchupBatch is how many reconciled apps catch-up records at once.
const catchupBatch = 256

// reconciled returns the notification that queues app a, found changed
// since mark; ok is false when a needs none: its last change was the
// daemon's own, or its current state was already evaluated.
func (d *Daemon) reconciled(ctx context.Context, s *site, mark string, a *qrs.App) (store.Notification, bool, error) {
	if accountName(a.ModifiedByUserName) == d.ownUser {
		return store.Notification{}, false, nil
	}
	m, _, ok, err := d.store.Evaluated(ctx, s.alias, a.ID)
	if err != nil {
		return store.Notification{}, false, err
	}
	if ok && m == a.ModifiedDate {
		return store.Notification{}, false, nil
	}
	// What happened since the app was last evaluated (or, never
	// evaluated, since the mark) was missed; a reload evaluated live
	// after the mark was not.
	since := mark
	if ok && qrs.ParseTime(m).After(qrs.ParseTime(mark)) {
		since = m
	}
	n := store.Notification{Site: s.alias, AppID: a.ID, Kind: engine.KindReconciled}
	if c := missedChange(*a, since); c != nil {
		if n.Change, err = json.Marshal(c); err != nil {
			return store.Notification{}, false, err
		}
	}
	return n, true, nil
}

// missedChange says what catch-up can tell about a change it found: that
// the app was reloaded or published since then (its lastReloadTime or
// publishTime is newer), so that the `reloaded` and `published` policies
// act on what happened while nobody listened. nil when neither is newer.
// It reads like the notification QRS would have sent, with no originator.
func missedChange(a qrs.App, then string) *qrs.ChangeInfo {
	since := qrs.ParseTime(then)
	var changed []string
	if qrs.ParseTime(a.LastReloadTime).After(since) {
		changed = append(changed, "lastReloadTime")
	}
	if qrs.ParseTime(a.PublishTime).After(since) {
		changed = append(changed, "publishTime")
	}
	if len(changed) == 0 {
		return nil
	}
	return &qrs.ChangeInfo{ChangeType: qrs.ChangeUpdate, ObjectType: "App", ObjectID: a.ID,
		ChangedProperties: append([]string{"modifiedDate"}, changed...),
		CreatedDate:       a.CreatedDate, ModifiedDate: a.ModifiedDate, SchemaPath: "ExternalChangeInfo"}
}

// pruneLoop deletes this replica's old recorded events once a day (the
// leader prunes the execution records: pruneExecutions).
func (d *Daemon) pruneLoop(ctx context.Context) {
	t := time.NewTicker(24 * time.Hour)
	defer t.Stop()
	for {
		d.pruneEvents()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// pruneEvents removes the recorded-event folders (one per day) older than
// the retention.
func (d *Daemon) pruneEvents() {
	dir := filepath.Join(d.cfg.StateDir, "events")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	cut := d.now().Add(-retention).UTC().Format("2006-01-02")
	for _, e := range entries {
		if e.IsDir() && len(e.Name()) == len(cut) && e.Name() < cut {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				d.log.Warn("pruning old recorded events failed", "err", err)
			}
		}
	}
}

// retention is how long execution records, checkpoints and recorded events
// are kept (the audit log rotates by size).
const retention = 30 * 24 * time.Hour
