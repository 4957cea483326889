package store

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestExponentialDelayAndRetryAt(t *testing.T) {
	want := []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second, 160 * time.Second,
		320 * time.Second, 10 * time.Minute, 10 * time.Minute}
	for i, w := range want {
		if got := ExponentialDelay(i + 1); got != w {
			t.Errorf("attempt %d: %s, want %s", i+1, got, w)
		}
	}
	s := &Store{opts: Options{RetryDelay: ExponentialDelay}}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	spread := map[time.Time]bool{}
	for id := range int64(50) {
		job := Job{ID: id, Attempt: 3}
		at := s.RetryAt(job, now)
		if d := at.Sub(now); d < 36*time.Second || d > 44*time.Second {
			t.Fatalf("job %d attempt 3 retried after %s, want 40s ±10%%", id, d)
		}
		if s.RetryAt(job, now) != at {
			t.Fatal("RetryAt is not repeatable: River's answer and the daemon's would differ")
		}
		spread[at] = true
	}
	if len(spread) < 40 {
		t.Errorf("only %d distinct retry times for 50 jobs: executions that failed together come back together", len(spread))
	}
}

// An attempt that fails is retried after RetryDelay and listed meanwhile,
// with its next attempt and last error; a wait (Snooze) uses no attempt
// and is recorded once.
func TestWaitingExecutionsAreListed(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		ctx := context.Background()
		type run struct {
			app     string
			attempt int
		}
		runs := make(chan run, 10)
		release := make(chan struct{})
		var s *Store
		o := db.options(func(ctx context.Context, job Job) error {
			runs <- run{job.AppID, job.Attempt}
			if _, err := s.Begin(ctx, job); err != nil {
				return err
			}
			switch {
			case job.AppID == "flaky" && job.Attempt == 1:
				if err := s.Finish(ctx, job, Outcome{State: StateRetrying, Error: "qrs test: 503"}); err != nil {
					return err
				}
				return errors.New("qrs test: 503")
			case job.AppID == "patient":
				select {
				case <-release:
				default:
					for range 2 {
						if _, err := s.Wait(ctx, job, "site test is down"); err != nil {
							return err
						}
					}
					return Snooze(100 * time.Millisecond)
				}
			}
			return s.Finish(ctx, job, Outcome{State: "acted"})
		})
		o.RetryDelay = func(int) time.Duration { return 2 * time.Second }
		s = db.openWith(t, o)
		defer s.Close()
		if err := s.Start(ctx); err != nil {
			t.Fatal(err)
		}
		defer s.Drain(ctx)
		for _, app := range []string{"flaky", "patient"} {
			if _, err := s.Record(ctx, []Notification{{Site: "dev", AppID: app, Change: change(app)}}); err != nil {
				t.Fatal(err)
			}
		}
		failedAt := time.Now()
		var listed []WaitingExecution
		deadline := time.Now().Add(10 * time.Second)
		for len(listed) < 2 {
			if time.Now().After(deadline) {
				t.Fatalf("waiting executions: %+v", listed)
			}
			time.Sleep(20 * time.Millisecond)
			var err error
			if listed, err = s.WaitingExecutions(ctx, 10); err != nil {
				t.Fatal(err)
			}
		}
		for _, w := range listed {
			switch w.AppID {
			case "flaky":
				if w.State != StateRetrying || w.LastError != "qrs test: 503" || w.Attempts != 1 || w.MaxAttempts != 3 {
					t.Errorf("flaky: %+v", w)
				}
				if d := w.NextAttempt.Sub(failedAt); d < time.Second || d > 3*time.Second {
					t.Errorf("flaky's next attempt %s after its failure, want 2s ±10%%", d)
				}
			case "patient":
				if w.State != StateWaiting || w.LastError != "site test is down" || w.Attempts != 0 {
					t.Errorf("patient: %+v", w)
				}
			}
		}
		close(release)
		seen := map[string][]int{}
		for len(seen["flaky"]) < 2 || len(seen["patient"]) < 2 {
			select {
			case r := <-runs:
				seen[r.app] = append(seen[r.app], r.attempt)
			case <-time.After(10 * time.Second):
				t.Fatalf("runs so far %v", seen)
			}
		}
		if seen["flaky"][1] != 2 {
			t.Errorf("flaky's attempts %v", seen["flaky"])
		}
		for _, a := range seen["patient"] {
			if a != 1 {
				t.Errorf("patient's attempts %v: a wait used one", seen["patient"])
			}
		}
	})
}

// An evaluation waits for the earlier ones of its app still queued.
func TestEarlierQueued(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		ctx := context.Background()
		s := db.open(t, nil)
		defer s.Close()
		if _, err := s.Record(ctx, []Notification{{Site: "dev", AppID: "a", Change: change("a")}, {Site: "dev", AppID: "b", Change: change("b")}}); err != nil {
			t.Fatal(err)
		}
		first := pendingJob(t, s, "dev", "a")
		if _, err := s.Begin(ctx, first); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Record(ctx, []Notification{{Site: "dev", AppID: "a", Change: change("a")}}); err != nil {
			t.Fatal(err)
		}
		second := pendingJob(t, s, "dev", "a")
		if second.ID == first.ID {
			t.Fatal("the claimed evaluation took the new notification")
		}
		if _, ok, err := s.EarlierQueued(ctx, first); err != nil || ok {
			t.Errorf("first: earlier queued %v %v", ok, err)
		}
		if due, ok, err := s.EarlierQueued(ctx, second); err != nil || !ok || due.IsZero() {
			t.Errorf("second: earlier queued %v at %s, %v; want the first", ok, due, err)
		}
		if _, ok, _ := s.EarlierQueued(ctx, pendingJob(t, s, "dev", "b")); ok {
			t.Error("another app's evaluation holds b back")
		}
		exec(t, s, `UPDATE river_job SET state = 'completed', finalized_at = `+s.dia.riverNow()+` WHERE id = ?`, first.ID)
		if _, ok, _ := s.EarlierQueued(ctx, second); ok {
			t.Error("a finished evaluation still holds the next back")
		}
	})
}

// A failed execution is queued again as itself, with fresh attempts; one
// that did not fail, or is still queued, is refused with its state.
func TestRequeueFailedExecution(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		ctx := context.Background()
		s := db.open(t, nil)
		defer s.Close()
		if _, err := s.Record(ctx, []Notification{{Site: "dev", AppID: "a", Change: change("a")}}); err != nil {
			t.Fatal(err)
		}
		job := pendingJob(t, s, "dev", "a")
		if _, err := s.Begin(ctx, job); err != nil {
			t.Fatal(err)
		}
		var nfe *NotFailedError
		if _, err := s.Requeue(ctx, job.ExecutionID, 5); !errors.As(err, &nfe) || nfe.Queue != "available" {
			t.Errorf("requeue of a queued execution: %v", err)
		}
		if err := s.Finish(ctx, job, Outcome{State: StateFailed, Error: "qrs prod: 403"}); err != nil {
			t.Fatal(err)
		}
		exec(t, s, `UPDATE river_job SET state = 'cancelled', finalized_at = `+s.dia.riverNow()+` WHERE id = ?`, job.ID)

		e, err := s.Requeue(ctx, job.ExecutionID, 5)
		if err != nil {
			t.Fatal(err)
		}
		if e.ID != job.ExecutionID || e.State != StateRetrying || e.JobID == job.ID || e.Error != "qrs prod: 403" {
			t.Errorf("requeued: %+v", e)
		}
		var state string
		var attempts int
		queryRow(t, s, `SELECT state, max_attempts FROM river_job WHERE id = ?`, []any{e.JobID}, &state, &attempts)
		if state != "available" || attempts != 5 {
			t.Errorf("the new job is %s with %d attempts", state, attempts)
		}
		if _, err := s.Requeue(ctx, job.ExecutionID, 5); !errors.As(err, &nfe) {
			t.Errorf("a second requeue: %v", err)
		}
		if _, err := s.Requeue(ctx, "20260101T000000.000Z-00000000", 5); !errors.Is(err, ErrNoExecution) {
			t.Errorf("unknown execution: %v", err)
		}

		// One that ended well is no failure.
		if _, err := s.Record(ctx, []Notification{{Site: "dev", AppID: "b", Change: change("b")}}); err != nil {
			t.Fatal(err)
		}
		ok := pendingJob(t, s, "dev", "b")
		if _, err := s.Begin(ctx, ok); err != nil {
			t.Fatal(err)
		}
		if err := s.Finish(ctx, ok, Outcome{State: "acted"}); err != nil {
			t.Fatal(err)
		}
		exec(t, s, `UPDATE river_job SET state = 'completed', finalized_at = `+s.dia.riverNow()+` WHERE id = ?`, ok.ID)
		if _, err := s.Requeue(ctx, ok.ExecutionID, 5); !errors.As(err, &nfe) || nfe.State != "acted" || nfe.Error() != "execution "+ok.ExecutionID+" ended acted: only a failed execution can be retried" {
			t.Errorf("requeue of an acted execution: %v", err)
		}
	})
}

// An execution whose job left the queue without its end recorded (stuck
// retrying) can be run again; two requeues at once queue it once, also
// from two processes sharing the database.
func TestRequeueStuckAndAtOnce(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		ctx := context.Background()
		s := db.open(t, nil)
		defer s.Close()
		o := db.options(nil)
		o.Beside = true
		other := db.openWith(t, o) // as qs-promoter retry beside the daemon
		defer other.Close()
		if _, err := s.Record(ctx, []Notification{{Site: "dev", AppID: "a", Change: change("a")}}); err != nil {
			t.Fatal(err)
		}
		job := pendingJob(t, s, "dev", "a")
		if _, err := s.Begin(ctx, job); err != nil {
			t.Fatal(err)
		}
		if err := s.Finish(ctx, job, Outcome{State: StateRetrying, Error: "the database went away"}); err != nil {
			t.Fatal(err)
		}
		exec(t, s, `UPDATE river_job SET state = 'discarded', finalized_at = `+s.dia.riverNow()+` WHERE id = ?`, job.ID)

		var wg sync.WaitGroup
		var mu sync.Mutex
		var queued, refused int
		for i := range 8 {
			st := s
			if i%2 == 1 {
				st = other
			}
			wg.Go(func() {
				_, err := st.Requeue(ctx, job.ExecutionID, 5)
				var nfe *NotFailedError
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					queued++
				case errors.As(err, &nfe):
					refused++
				default:
					t.Errorf("requeue: %v", err)
				}
			})
		}
		wg.Wait()
		var live int
		queryRow(t, s, `SELECT count(*) FROM river_job WHERE state = 'available'`, nil, &live)
		if queued != 1 || refused != 7 || live != 1 {
			t.Errorf("8 requeues at once: %d queued, %d refused, %d live jobs; want 1, 7, 1", queued, refused, live)
		}
	})
}

// An older app state evaluated late (an execution run again after newer
// ones) does not move the record of what was last evaluated back.
func TestEvaluatedNeverGoesBack(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		ctx := context.Background()
		s := db.open(t, nil)
		defer s.Close()
		finish := func(modified string) {
			t.Helper()
			if _, err := s.Record(ctx, []Notification{{Site: "dev", AppID: "a", Change: change("a")}}); err != nil {
				t.Fatal(err)
			}
			job := pendingJob(t, s, "dev", "a")
			if _, err := s.Begin(ctx, job); err != nil {
				t.Fatal(err)
			}
			if err := s.Finish(ctx, job, Outcome{State: "acted", Evaluated: &AppState{Modified: modified, Kinds: []string{"updated"}}}); err != nil {
				t.Fatal(err)
			}
			exec(t, s, `UPDATE river_job SET state = 'completed', finalized_at = `+s.dia.riverNow()+` WHERE id = ?`, job.ID)
		}
		finish("2026-12-01T10:00:02.000Z")
		finish("2026-12-01T10:00:01.000Z")
		if m, _, ok, err := s.Evaluated(ctx, "dev", "a"); err != nil || !ok || m != "2026-12-01T10:00:02.000Z" {
			t.Errorf("evaluated %q %v %v, want the newer state", m, ok, err)
		}
		finish("2026-12-01T10:00:03.000Z")
		if m, _, _, _ := s.Evaluated(ctx, "dev", "a"); m != "2026-12-01T10:00:03.000Z" {
			t.Errorf("evaluated %q, want the newest state", m)
		}
	})
}
