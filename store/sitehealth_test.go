package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

// The leader publishes its view of a site under its lease; every replica
// reads the same view, with its age on the shared clock; an old term
// cannot overwrite the new leader's view.
func TestSiteHealthIsPublishedByTheLeaseHolder(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		ctx := context.Background()
		c := newClock()
		s := db.openClock(t, c)
		defer s.Close()
		if got, err := s.SiteHealth(ctx); err != nil || len(got) != 0 {
			t.Fatalf("before any publication: %v %v", got, err)
		}
		a, _, _ := s.AcquireLease(ctx, "leader", "a", 15*time.Second)
		t0 := c.now()
		want := SiteHealth{Up: false, CheckedAt: t0, Error: "connection refused", SubscribedAt: t0.Add(-time.Minute),
			LastCatchup: t0.Add(-time.Second), CatchupQueued: 3, CatchupError: "x"}
		if err := s.Fenced(a).SetSiteHealth(ctx, "dev", want); err != nil {
			t.Fatal(err)
		}
		c.add(4 * time.Second)
		got, err := s.SiteHealth(ctx)
		if err != nil {
			t.Fatal(err)
		}
		h := got["dev"]
		if len(got) != 1 || h.Up || !h.CheckedAt.Equal(t0) || h.Error != want.Error || !h.SubscribedAt.Equal(want.SubscribedAt) ||
			h.CatchupQueued != 3 || h.Age != 4*time.Second {
			t.Fatalf("published %+v, read %+v", want, got)
		}
		// The site's token and handles are untouched by the view.
		if hs, _ := s.Handles(ctx, "dev"); len(hs) != 0 {
			t.Fatalf("handles %v", hs)
		}

		c.add(20 * time.Second) // a's lease expires; b leads
		b, ok, _ := s.AcquireLease(ctx, "leader", "b", 15*time.Second)
		if !ok {
			t.Fatal("b could not take the expired lease")
		}
		if err := s.Fenced(a).SetSiteHealth(ctx, "dev", SiteHealth{Up: true}); !errors.Is(err, ErrLeaseLost) {
			t.Fatalf("the old leader's view: %v", err)
		}
		if err := s.Fenced(b).SetSiteHealth(ctx, "dev", SiteHealth{Up: true, CheckedAt: c.now()}); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.SiteHealth(ctx); !got["dev"].Up || got["dev"].Age != 0 {
			t.Fatalf("b's view %+v", got)
		}
	})
}

// RescueLost takes back the running executions whose heartbeat stopped
// (their replica is gone) and leaves a live replica's alone, without a
// restart.
func TestRescueLostTakesOnlySilentJobs(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		ctx := context.Background()
		o := db.options(nil)
		o.RescueAfter = time.Minute
		s := db.openWith(t, o)
		defer s.Close()
		for _, app := range []string{"lost", "live", "spent"} {
			if _, err := s.Record(ctx, []Notification{{Site: "dev", AppID: app, Change: change(app)}}); err != nil {
				t.Fatal(err)
			}
		}
		spent := pendingJob(t, s, "dev", "spent")
		if _, err := s.Begin(ctx, spent); err != nil {
			t.Fatal(err)
		}
		exec(t, s, `UPDATE river_job SET state = 'running', attempt = 1, attempted_at = `+s.dia.riverAgo()+` WHERE `+s.dia.jobArg("app_id")+` = 'lost'`, 120)
		exec(t, s, `UPDATE river_job SET state = 'running', attempt = 1, attempted_at = `+s.dia.riverAgo()+` WHERE `+s.dia.jobArg("app_id")+` = 'live'`, 5)
		exec(t, s, `UPDATE river_job SET state = 'running', attempt = max_attempts, attempted_at = `+s.dia.riverAgo()+` WHERE `+s.dia.jobArg("app_id")+` = 'spent'`, 120)
		n, err := s.RescueLost(ctx)
		if err != nil || n != 1 {
			t.Fatalf("rescued %d %v, want the lost job", n, err)
		}
		for app, want := range map[string]string{"lost": "available", "live": "running", "spent": "discarded"} {
			var st string
			queryRow(t, s, `SELECT state FROM river_job WHERE `+s.dia.jobArg("app_id")+` = ?`, []any{app}, &st)
			if st != want {
				t.Errorf("%s: state %q, want %q", app, st, want)
			}
		}
		if e, _ := s.Execution(ctx, spent.ExecutionID); e == nil || e.State != "failed" {
			t.Errorf("the execution out of attempts: %+v", e)
		}
	})
}

// On SQLite the folder lock proves the previous process is gone: its
// leases are expired at start, so the new process leads at once.
func TestSQLiteReopenExpiresLeases(t *testing.T) {
	ctx := context.Background()
	db := testDB{driver: DriverSQLite, dir: t.TempDir()}
	s := db.open(t, nil)
	old, ok, err := s.AcquireLease(ctx, "leader", "previous-process", time.Hour)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	s.Close()
	s = db.open(t, nil)
	defer s.Close()
	l, ok, err := s.AcquireLease(ctx, "leader", "this-process", time.Hour)
	if err != nil || !ok || l.Term != old.Term+1 {
		t.Fatalf("after a restart: %+v %v %v", l, ok, err)
	}
}

// A later evaluation of an app finds the earlier one that has not finished
// (a dead replica's, still running in the queue until it is rescued), and
// nothing once it has.
func TestEarlierQueuedWaitsForADeadReplicasRun(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		ctx := context.Background()
		s := db.open(t, nil)
		defer s.Close()
		if _, err := s.Record(ctx, []Notification{{Site: "dev", AppID: "a", Change: change("a")}}); err != nil {
			t.Fatal(err)
		}
		first := pendingJob(t, s, "dev", "a")
		if _, err := s.Begin(ctx, first); err != nil {
			t.Fatal(err)
		}
		exec(t, s, `UPDATE river_job SET state = 'running', attempt = 1 WHERE id = ?`, first.ID)
		if _, err := s.Record(ctx, []Notification{{Site: "dev", AppID: "a", Change: change("a")}}); err != nil {
			t.Fatal(err)
		}
		second := pendingJob(t, s, "dev", "a")
		if second.ID == first.ID {
			t.Fatal("the second notification joined the running job")
		}
		if _, ok, err := s.EarlierQueued(ctx, second); err != nil || !ok {
			t.Fatalf("earlier queued %v %v, want the running first", ok, err)
		}
		if _, ok, _ := s.EarlierQueued(ctx, first); ok {
			t.Fatal("the first execution waits for another")
		}
		exec(t, s, `UPDATE river_job SET state = 'completed', finalized_at = `+s.dia.riverNow()+` WHERE id = ?`, first.ID)
		if _, ok, err := s.EarlierQueued(ctx, second); err != nil || ok {
			t.Fatalf("after the first finished: %v %v", ok, err)
		}
	})
}
