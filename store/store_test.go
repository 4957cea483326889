package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func open(t testing.TB, dir string, work WorkFunc) *Store {
	t.Helper()
	s, err := Open(context.Background(), Options{Dir: dir, Work: work, PollInterval: 20 * time.Millisecond, MaxAttempts: 3})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func change(app string) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"changeType":2,"objectType":"App","objectID":%q,"changedProperties":["modifiedDate"]}`, app))
}

func TestRecordCoalescesUntilClaimed(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir(), nil)
	defer s.Close()

	rec, err := s.Record(ctx, []Notification{{Site: "dev", AppID: "a", Change: change("a")}, {Site: "dev", AppID: "a", Change: change("a")}, {Site: "dev", AppID: "b", Change: change("b")}})
	if err != nil {
		t.Fatal(err)
	}
	if rec != (Recorded{Jobs: 2, Coalesced: 1}) {
		t.Fatalf("first batch: %+v", rec)
	}
	rec, _ = s.Record(ctx, []Notification{{Site: "dev", AppID: "a", Change: change("a")}})
	if rec != (Recorded{Coalesced: 1}) {
		t.Fatalf("second batch: %+v", rec)
	}
	var execID string
	var jobID int64
	if err := s.db.QueryRow(`SELECT execution_id, job_id FROM qsp_pending_app WHERE app_id = 'a'`).Scan(&execID, &jobID); err != nil {
		t.Fatal(err)
	}
	job := Job{ID: jobID, ExecutionID: execID, Site: "dev", AppID: "a"}
	ns, err := s.Claim(ctx, job)
	if err != nil || len(ns) != 3 {
		t.Fatalf("claim: %d notifications, %v", len(ns), err)
	}
	// After the claim, a new notification schedules a new evaluation...
	rec, _ = s.Record(ctx, []Notification{{Site: "dev", AppID: "a", Change: change("a")}})
	if rec != (Recorded{Jobs: 1}) {
		t.Fatalf("after claim: %+v", rec)
	}
	// ...and a retry of the first job still sees only its own three.
	ns, err = s.Claim(ctx, job)
	if err != nil || len(ns) != 3 {
		t.Fatalf("retried claim: %d notifications, %v", len(ns), err)
	}
	if _, ok, _ := s.OldestWaiting(ctx, "dev", "a"); !ok {
		t.Fatal("the newer notification should be waiting")
	}
}

func TestWorkRunsEachAppAndRetries(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	claimed := map[string]int{}
	attempts := map[string]int{}
	done := make(chan string, 10)
	var s *Store
	s = open(t, t.TempDir(), func(ctx context.Context, job Job) error {
		ns, err := s.Claim(ctx, job)
		if err != nil {
			return err
		}
		mu.Lock()
		attempts[job.AppID]++
		n := attempts[job.AppID]
		claimed[job.AppID] = len(ns)
		mu.Unlock()
		if job.AppID == "flaky" && n == 1 {
			return errors.New("transient")
		}
		if job.AppID == "broken" {
			done <- job.AppID
			return Permanent(errors.New("permanent"))
		}
		done <- job.AppID
		return nil
	})
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	defer s.Drain(ctx)
	for _, app := range []string{"ok", "flaky", "broken"} {
		if _, err := s.Record(ctx, []Notification{{Site: "dev", AppID: app, Change: change(app)}, {Site: "dev", AppID: app, Change: change(app)}}); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	deadline := time.After(20 * time.Second)
	for len(seen) < 3 {
		select {
		case app := <-done:
			seen[app] = true
		case <-deadline:
			t.Fatalf("only %v finished", seen)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if attempts["flaky"] != 2 || claimed["flaky"] != 2 {
		t.Errorf("flaky: %d attempts, last claimed %d", attempts["flaky"], claimed["flaky"])
	}
	if attempts["broken"] != 1 {
		t.Errorf("broken was attempted %d times; a permanent failure must not be retried", attempts["broken"])
	}
}

func TestReopenResumesInterruptedJobAndLocksFolder(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir, nil)
	if _, err := s.Record(ctx, []Notification{{Site: "dev", AppID: "a", Change: change("a")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, Options{Dir: dir}); err == nil {
		t.Fatal("a second store on the same folder must be refused")
	}
	// Simulate a process that died while running the job.
	if _, err := s.db.Exec(`UPDATE river_job SET state = 'running', attempt = 1`); err != nil {
		t.Fatal(err)
	}
	tok, _ := s.SiteToken(ctx, "dev")
	// A second job that has used up its attempts is given up, not resumed.
	if _, err := s.Record(ctx, []Notification{{Site: "dev", AppID: "loop", Change: change("loop")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.Exec(`UPDATE river_job SET state = 'running', attempt = max_attempts WHERE args ->> '$.app_id' = 'loop'`); err != nil {
		t.Fatal(err)
	}
	s.Close()

	ran := make(chan Job, 1)
	s2 := open(t, dir, func(ctx context.Context, job Job) error { ran <- job; return nil })
	defer s2.Close()
	if err := s2.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer s2.Drain(ctx)
	select {
	case job := <-ran:
		if job.AppID != "a" || job.Attempt != 2 {
			t.Fatalf("resumed %+v", job)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the interrupted job was not resumed at start")
	}
	select {
	case job := <-ran:
		t.Fatalf("ran %+v, want only the interrupted job with attempts left", job)
	case <-time.After(300 * time.Millisecond):
	}
	var state string
	if err := s2.db.QueryRow(`SELECT state FROM river_job WHERE args ->> '$.app_id' = 'loop'`).Scan(&state); err != nil || state != "discarded" {
		t.Fatalf("crash-looping job: %q %v", state, err)
	}
	if tok2, _ := s2.SiteToken(ctx, "dev"); tok2 != tok {
		t.Fatal("the site token must survive a restart")
	}
}

func TestCheckpointsJournalAndState(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir(), nil)
	defer s.Close()
	if _, ok, _ := s.Checkpoint(ctx, "x", "p/s"); ok {
		t.Fatal("no checkpoint yet")
	}
	if err := s.SaveCheckpoint(ctx, "x", "p/s", []byte(`{"status":"done"}`)); err != nil {
		t.Fatal(err)
	}
	if b, ok, _ := s.Checkpoint(ctx, "x", "p/s"); !ok || string(b) != `{"status":"done"}` {
		t.Fatalf("checkpoint %q %v", b, ok)
	}
	_ = s.JournalPut(ctx, "x", "p/s", "uploaded:test", "app-1")
	if v, ok, _ := s.JournalGet(ctx, "x", "p/s", "uploaded:test"); !ok || v != "app-1" {
		t.Fatalf("journal %q %v", v, ok)
	}
	_ = s.SetEvaluated(ctx, "dev", "a", "2026-01-01T00:00:00.000Z", []string{"updated"}, "x")
	_ = s.SetEvaluated(ctx, "dev", "a", "2026-01-01T00:00:00.000Z", []string{"published"}, "y")
	m, kinds, ok, _ := s.Evaluated(ctx, "dev", "a")
	if !ok || m != "2026-01-01T00:00:00.000Z" || len(kinds) != 2 {
		t.Fatalf("evaluated %q %v %v", m, kinds, ok)
	}
	_ = s.SetHandles(ctx, "dev", []string{"h1", "h2"})
	if hs, _ := s.Handles(ctx, "dev"); len(hs) != 2 {
		t.Fatalf("handles %v", hs)
	}
}

// Record on a closed store fails at once with ErrClosed: it must not queue
// the request where no intake loop will ever answer it.
func TestRecordAfterCloseFails(t *testing.T) {
	s := open(t, t.TempDir(), nil)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		for range 50 {
			if _, err := s.Record(context.Background(), []Notification{{Site: "dev", AppID: "a", Change: change("a")}}); !errors.Is(err, ErrClosed) {
				done <- fmt.Errorf("Record after Close: %v, want ErrClosed", err)
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Record after Close hangs")
	}
}

// A job being worked keeps its attempted_at fresh, so River's rescuer (which
// retries jobs running longer than RescueAfter) never starts a second
// attempt of an execution that is still running here.
func TestRunningJobIsKeptAlive(t *testing.T) {
	ctx := context.Background()
	attempted := func(s *Store, id int64) string {
		var at string
		if err := s.db.QueryRow(`SELECT attempted_at FROM river_job WHERE id = ?`, id).Scan(&at); err != nil {
			t.Error(err)
		}
		return at
	}
	started, release, finished := make(chan int64, 1), make(chan struct{}), make(chan struct{})
	s, err := Open(ctx, Options{Dir: t.TempDir(), PollInterval: 20 * time.Millisecond, RescueAfter: 100 * time.Millisecond,
		Work: func(ctx context.Context, job Job) error {
			started <- job.ID
			<-release
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer s.Drain(ctx)
	var once sync.Once
	defer once.Do(func() { close(release) }) // a failure must not leave Drain waiting for the job
	if _, err := s.Record(ctx, []Notification{{Site: "dev", AppID: "a", Change: change("a")}}); err != nil {
		t.Fatal(err)
	}
	var id int64
	select {
	case id = <-started:
	case <-time.After(20 * time.Second):
		t.Fatal("the job did not start")
	}
	first := attempted(s, id)
	deadline := time.Now().Add(10 * time.Second)
	for attempted(s, id) == first {
		if time.Now().After(deadline) {
			t.Fatalf("attempted_at stayed %s while the job ran: River would rescue it", first)
		}
		time.Sleep(20 * time.Millisecond)
	}
	once.Do(func() { close(release) })
	go func() {
		for {
			var st string
			_ = s.db.QueryRow(`SELECT state FROM river_job WHERE id = ?`, id).Scan(&st)
			if st == "completed" {
				close(finished)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	select {
	case <-finished:
	case <-time.After(20 * time.Second):
		t.Fatal("the job did not complete")
	}
}

// Pruning keeps an execution whose job will still run (interrupted by a
// shutdown long ago and resumed at this start): its checkpoints and recorded
// event are what keep the resumed run from promoting a second time.
func TestPruneKeepsExecutionsStillQueued(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir(), nil)
	defer s.Close()
	for _, app := range []string{"interrupted", "done"} {
		if _, err := s.Record(ctx, []Notification{{Site: "dev", AppID: app, Change: change(app)}}); err != nil {
			t.Fatal(err)
		}
		var job Job
		if err := s.db.QueryRow(`SELECT job_id, execution_id FROM qsp_pending_app WHERE app_id = ?`, app).Scan(&job.ID, &job.ExecutionID); err != nil {
			t.Fatal(err)
		}
		job.Site, job.AppID = "dev", app
		if _, err := s.Claim(ctx, job); err != nil {
			t.Fatal(err)
		}
		if _, err := s.StartExecution(ctx, job); err != nil {
			t.Fatal(err)
		}
		if err := s.SaveCheckpoint(ctx, job.ExecutionID, "p/promote", []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		state := "interrupted"
		if app == "done" {
			state = "acted"
			if _, err := s.db.Exec(`UPDATE river_job SET state = 'completed', finalized_at = datetime('now') WHERE id = ?`, job.ID); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.FinishExecution(ctx, job.ExecutionID, state, "", ""); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.Prune(ctx, time.Now().Add(time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("pruned %d (%v), want 1 (the finished one)", n, err)
	}
	left, _ := s.ExecutionsFor(ctx, "dev", "interrupted")
	if len(left) != 1 {
		t.Fatalf("the interrupted execution was pruned")
	}
	if _, ok, _ := s.Checkpoint(ctx, left[0].ID, "p/promote"); !ok {
		t.Fatal("the interrupted execution's checkpoint was pruned")
	}
}
