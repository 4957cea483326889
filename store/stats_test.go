package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Executions are counted by UTC day and state in the database, from the
// day given on.
func TestExecutionsPerDay(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		ctx := context.Background()
		c := newClock() // 2026-03-01 10:00 UTC
		s := db.openClock(t, c)
		defer s.Close()
		states := []string{"acted", "acted", "failed", "no_match"}
		for i := range 12 {
			app := fmt.Sprintf("app-%d", i)
			if _, err := s.Record(ctx, []Notification{{Site: "dev", AppID: app, Change: change(app)}}); err != nil {
				t.Fatal(err)
			}
			job := pendingJob(t, s, "dev", app)
			if _, err := s.Begin(ctx, job); err != nil {
				t.Fatal(err)
			}
			if err := s.Finish(ctx, job, Outcome{State: states[i%4]}); err != nil {
				t.Fatal(err)
			}
			c.add(8 * time.Hour) // three a day, from 10:00, 18:00 and 02:00 the next day
		}
		got, err := s.ExecutionsPerDay(ctx, time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC))
		if err != nil {
			t.Fatal(err)
		}
		// Started: 03-01 ×2 (before since), 03-02 failed, no_match, acted;
		// 03-03 acted, failed, no_match; 03-04 acted, acted, failed; 03-05 no_match.
		want := []DayCount{
			{"2026-03-02", "acted", 1}, {"2026-03-02", "failed", 1}, {"2026-03-02", "no_match", 1},
			{"2026-03-03", "acted", 1}, {"2026-03-03", "failed", 1}, {"2026-03-03", "no_match", 1},
			{"2026-03-04", "acted", 2}, {"2026-03-04", "failed", 1},
			{"2026-03-05", "no_match", 1},
		}
		if !slices.Equal(got, want) {
			t.Errorf("per day:\n got %v\nwant %v", got, want)
		}
	})
}

// A secret is made once and every process on the database gets the same.
func TestSecretIsMadeOnceAndShared(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		ctx := context.Background()
		s := db.open(t, nil)
		var wg sync.WaitGroup
		got := make([]string, 8)
		for i := range got {
			wg.Go(func() {
				v, err := s.Secret(ctx, "console-session")
				if err != nil {
					t.Error(err)
				}
				got[i] = v
			})
		}
		wg.Wait()
		for _, v := range got {
			if len(v) != 64 || v != got[0] {
				t.Fatalf("secrets %v: want one of 64 hex digits", got)
			}
		}
		other, err := s.Secret(ctx, "other")
		if err != nil || other == got[0] {
			t.Errorf("another name's secret: %q, %v", other, err)
		}
		s.Close()
		s = db.open(t, nil) // a restart (or another replica) reads it back
		defer s.Close()
		if v, err := s.Secret(ctx, "console-session"); err != nil || v != got[0] {
			t.Errorf("after reopening: %q, %v; want %q", v, err, got[0])
		}
	})
}

// Audit records are searched by action and outcome.
func TestAuditRecordsByAction(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		ctx := context.Background()
		s := db.open(t, nil)
		defer s.Close()
		recs := []AuditRecord{
			{Type: "step", Action: "promote", Outcome: "done", AppID: "a"},
			{Type: "step", Action: "email", Outcome: "done", AppID: "a"},
			{Type: "console", Action: "reload", Outcome: "failed", User: "ann"},
			{Type: "step", Action: "promote", Outcome: "failed", AppID: "b"},
		}
		if err := s.AppendAudit(ctx, recs...); err != nil {
			t.Fatal(err)
		}
		page, err := s.AuditRecords(ctx, AuditQuery{Action: "promote"})
		if err != nil || len(page.Records) != 2 || page.Records[0].AppID != "b" || page.Records[0].Action != "promote" {
			t.Errorf("by action: %+v, %v", page.Records, err)
		}
		page, err = s.AuditRecords(ctx, AuditQuery{Outcome: "failed"})
		if err != nil || len(page.Records) != 2 || page.Records[1].User != "ann" {
			t.Errorf("by outcome: %+v, %v", page.Records, err)
		}
	})
}

// A read-only store reads a database another process runs on (the audit
// export while the daemon serves): no folder lock, nothing taken back.
func TestReadOnlyBesideTheDaemon(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		ctx := context.Background()
		s := db.open(t, nil)
		defer s.Close()
		if err := s.AppendAudit(ctx, AuditRecord{Type: "console", Action: "login", User: "ann"}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Record(ctx, []Notification{{Site: "dev", AppID: "a1", Change: change("a1")}}); err != nil {
			t.Fatal(err)
		}
		job := pendingJob(t, s, "dev", "a1")
		exec(t, s, `UPDATE river_job SET state = 'running' WHERE id = ?`, job.ID)

		o := db.options(nil)
		o.Beside = true
		ro, err := Open(ctx, o)
		if err != nil {
			t.Fatalf("read-only beside the daemon: %v", err)
		}
		page, err := ro.AuditRecords(ctx, AuditQuery{User: "ann"})
		if err != nil || len(page.Records) != 1 {
			t.Errorf("read-only audit: %+v %v", page.Records, err)
		}
		if err := ro.Close(); err != nil {
			t.Error(err)
		}
		var state string
		queryRow(t, s, `SELECT state FROM river_job WHERE id = ?`, []any{job.ID}, &state)
		if state != "running" {
			t.Errorf("the running job is %s after a read-only open", state)
		}
	})
	_, err := Open(context.Background(), Options{Dir: t.TempDir(), Beside: true})
	if err == nil || !strings.Contains(err.Error(), "no database in") {
		t.Errorf("read-only without a database: %v", err)
	}
}
