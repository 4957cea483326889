package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func change(app string) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"changeType":2,"objectType":"App","objectID":%q,"changedProperties":["modifiedDate"]}`, app))
}

func TestRecordCoalescesUntilClaimed(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		ctx := context.Background()
		s := db.open(t, nil)
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
		job := pendingJob(t, s, "dev", "a")
		b, err := s.Begin(ctx, job)
		if err != nil || len(b.Notifications) != 3 {
			t.Fatalf("begin: %+v, %v", b, err)
		}
		if n := b.Notifications[0]; n.Site != "dev" || n.AppID != "a" || string(n.Change) == "" || n.ReceivedAt.IsZero() {
			t.Fatalf("claimed %+v", n)
		}
		var got map[string]any
		if err := json.Unmarshal(b.Notifications[0].Change, &got); err != nil || got["objectID"] != "a" {
			t.Fatalf("the change came back as %s (%v)", b.Notifications[0].Change, err)
		}
		if b.Execution.State != "running" || b.Execution.ID != job.ExecutionID || b.Evaluated != nil {
			t.Fatalf("begun %+v, evaluated %+v", b.Execution, b.Evaluated)
		}
		// After the claim, a new notification schedules a new evaluation...
		rec, _ = s.Record(ctx, []Notification{{Site: "dev", AppID: "a", Change: change("a")}})
		if rec != (Recorded{Jobs: 1}) {
			t.Fatalf("after claim: %+v", rec)
		}
		// ...and a retry of the first job still sees only its own three.
		job.Attempt = 2
		b, err = s.Begin(ctx, job)
		if err != nil || len(b.Notifications) != 3 {
			t.Fatalf("retried begin: %+v, %v", b, err)
		}
		if _, ok, _ := s.OldestWaiting(ctx, "dev", "a"); !ok {
			t.Fatal("the newer notification should be waiting")
		}
		if _, ok, _ := s.OldestWaiting(ctx, "dev", "c"); ok {
			t.Fatal("nothing waits for c")
		}
	})
}

// Begin, SaveEvent and Finish are an execution's units of work: what
// Finish records (outcome, matched policies, evaluated state, audit) is what
// the next Begin and the queries read back.
func TestBeginSaveFinish(t *testing.T) {
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
		event := []byte(`{"app": {"id": "a", "name": "Sales 100%"}}`)
		if err := s.SaveEvent(ctx, job.ExecutionID, event, "Sales 100%", []string{"updated", "published"}, "rev1"); err != nil {
			t.Fatal(err)
		}
		decision := AuditRecord{Type: "decision", ExecutionID: job.ExecutionID, Site: "dev", AppID: "a", AppName: "Sales 100%",
			Policies: []string{"approval"}, Outcome: "acted", Record: json.RawMessage(`{"type":"decision","outcome":"acted"}`)}
		err := s.Finish(ctx, job, Outcome{State: "acted", Summary: "matched: approval", Policies: []string{"approval", "approval"},
			Evaluated: &AppState{Modified: "2026-01-01T00:00:00.000Z", Kinds: []string{"updated"}}, Audit: []AuditRecord{decision}})
		if err != nil {
			t.Fatal(err)
		}
		e, err := s.Execution(ctx, job.ExecutionID)
		if err != nil || e == nil {
			t.Fatalf("execution %v %v", e, err)
		}
		var ev map[string]any
		if err := json.Unmarshal(e.Event, &ev); err != nil {
			t.Fatalf("recorded event %s: %v", e.Event, err)
		}
		if e.State != "acted" || e.AppName != "Sales 100%" || e.Revision != "rev1" || strings.Join(e.Kinds, ",") != "updated,published" ||
			strings.Join(e.Policies, ",") != "approval" || e.Summary != "matched: approval" || e.FinishedAt.IsZero() || e.StartedAt.IsZero() {
			t.Fatalf("execution %+v", e)
		}
		if recent, _ := s.Recent(ctx, 5); len(recent) != 1 || recent[0].Event != nil || recent[0].AppName != "Sales 100%" {
			t.Fatalf("recent %+v", recent)
		}
		page, err := s.AuditRecords(ctx, AuditQuery{ExecutionID: job.ExecutionID})
		if err != nil || len(page.Records) != 1 || page.Records[0].Outcome != "acted" || page.Records[0].Policies[0] != "approval" {
			t.Fatalf("audit %+v %v", page, err)
		}

		// A second evaluation of the same state merges kinds; a retry's
		// Begin reads them, and the event the first attempt saved.
		if _, err := s.Record(ctx, []Notification{{Site: "dev", AppID: "a", Change: change("a")}}); err != nil {
			t.Fatal(err)
		}
		job2 := pendingJob(t, s, "dev", "a")
		b, err := s.Begin(ctx, job2)
		if err != nil || b.Evaluated == nil || b.Evaluated.Modified != "2026-01-01T00:00:00.000Z" {
			t.Fatalf("begin 2: %+v %v", b, err)
		}
		if err := s.Finish(ctx, job2, Outcome{State: "no_match", Evaluated: &AppState{Modified: "2026-01-01T00:00:00.000Z", Kinds: []string{"published"}}}); err != nil {
			t.Fatal(err)
		}
		m, kinds, ok, _ := s.Evaluated(ctx, "dev", "a")
		if !ok || m != "2026-01-01T00:00:00.000Z" || strings.Join(kinds, ",") != "updated,published" {
			t.Fatalf("merged kinds %q %v %v", m, kinds, ok)
		}
		job.Attempt = 2
		b, err = s.Begin(ctx, job)
		if err != nil || b.Execution.State != "running" || !json.Valid(b.Execution.Event) || b.Execution.FinishedAt != (time.Time{}) {
			t.Fatalf("retry of the first: %+v %v", b.Execution, err)
		}
		// Finish without an app name keeps the one SaveEvent recorded.
		if err := s.Finish(ctx, job, Outcome{State: "failed", Error: "boom"}); err != nil {
			t.Fatal(err)
		}
		if e, _ := s.Execution(ctx, job.ExecutionID); e.AppName != "Sales 100%" || e.Error != "boom" || len(e.Policies) != 0 {
			t.Fatalf("after the retry %+v", e)
		}
	})
}

func TestWorkRunsEachAppAndRetries(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		ctx := context.Background()
		var mu sync.Mutex
		claimed := map[string]int{}
		attempts := map[string]int{}
		done := make(chan string, 10)
		var s *Store
		s = db.open(t, func(ctx context.Context, job Job) error {
			b, err := s.Begin(ctx, job)
			if err != nil {
				return err
			}
			mu.Lock()
			attempts[job.AppID]++
			n := attempts[job.AppID]
			claimed[job.AppID] = len(b.Notifications)
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
	})
}

func TestReopenResumesInterruptedJobAndLocksFolder(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		ctx := context.Background()
		s := db.open(t, nil)
		if _, err := s.Record(ctx, []Notification{{Site: "dev", AppID: "a", Change: change("a")}}); err != nil {
			t.Fatal(err)
		}
		if db.driver == DriverSQLite {
			if _, err := Open(ctx, db.options(nil)); err == nil || !strings.Contains(err.Error(), "in use by another qs-promoter") {
				t.Fatalf("a second store on the same folder must be refused, got %v", err)
			}
		}
		// Simulate a process that died while running the job: on a shared
		// database, its heartbeat stopped an hour ago.
		exec(t, s, `UPDATE river_job SET state = 'running', attempt = 1, attempted_at = `+s.dia.riverAgo(), 3600)
		tok, _ := s.SiteToken(ctx, "dev")
		// A second job that has used up its attempts is given up, not resumed.
		if _, err := s.Record(ctx, []Notification{{Site: "dev", AppID: "loop", Change: change("loop")}}); err != nil {
			t.Fatal(err)
		}
		loop := pendingJob(t, s, "dev", "loop")
		if _, err := s.Begin(ctx, loop); err != nil {
			t.Fatal(err)
		}
		exec(t, s, `UPDATE river_job SET state = 'running', attempt = max_attempts, attempted_at = `+s.dia.riverAgo()+` WHERE `+s.dia.jobArg("app_id")+` = 'loop'`, 3600)
		if db.driver == DriverPostgres {
			// A job another replica is running now (fresh heartbeat) is
			// left alone by this start.
			if _, err := s.Record(ctx, []Notification{{Site: "dev", AppID: "live", Change: change("live")}}); err != nil {
				t.Fatal(err)
			}
			exec(t, s, `UPDATE river_job SET state = 'running', attempt = 1, attempted_at = `+s.dia.riverNow()+` WHERE `+s.dia.jobArg("app_id")+` = 'live'`)
		}
		s.Close()

		ran := make(chan Job, 3)
		s2 := db.open(t, func(ctx context.Context, job Job) error { ran <- job; return nil })
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
		queryRow(t, s2, `SELECT state FROM river_job WHERE `+s2.dia.jobArg("app_id")+` = 'loop'`, nil, &state)
		if state != "discarded" {
			t.Fatalf("crash-looping job: %q", state)
		}
		if e, _ := s2.Execution(ctx, loop.ExecutionID); e == nil || e.State != "failed" || !strings.Contains(e.Error, "interrupted on each of its 3 attempts") {
			t.Fatalf("crash-looping execution %+v", e)
		}
		if db.driver == DriverPostgres {
			queryRow(t, s2, `SELECT state FROM river_job WHERE `+s2.dia.jobArg("app_id")+` = 'live'`, nil, &state)
			if state != "running" {
				t.Fatalf("a live replica's job was taken over at start: %q", state)
			}
		}
		if tok2, _ := s2.SiteToken(ctx, "dev"); tok2 != tok {
			t.Fatal("the site token must survive a restart")
		}
	})
}

func TestCheckpointsJournalAndState(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		ctx := context.Background()
		s := db.open(t, nil)
		defer s.Close()
		if _, ok, _ := s.Checkpoint(ctx, "x", "p/s"); ok {
			t.Fatal("no checkpoint yet")
		}
		if err := s.SaveCheckpoint(ctx, "x", "p/s", []byte(`{"status":"failed"}`)); err != nil {
			t.Fatal(err)
		}
		if err := s.SaveCheckpoint(ctx, "x", "p/s", []byte(`{"status":"done"}`)); err != nil {
			t.Fatal(err)
		}
		if b, ok, _ := s.Checkpoint(ctx, "x", "p/s"); !ok || string(b) != `{"status":"done"}` {
			t.Fatalf("checkpoint %q %v", b, ok)
		}
		_ = s.JournalPut(ctx, "x", "p/s", "uploaded:test", "app-0")
		if err := s.JournalPut(ctx, "x", "p/s", "uploaded:test", "app-1"); err != nil {
			t.Fatal(err)
		}
		if v, ok, _ := s.JournalGet(ctx, "x", "p/s", "uploaded:test"); !ok || v != "app-1" {
			t.Fatalf("journal %q %v", v, ok)
		}
		if _, ok, _ := s.JournalGet(ctx, "x", "p/s", "other"); ok {
			t.Fatal("no such journal entry")
		}
		if err := s.SetHandles(ctx, "dev", []string{"h1", "h2"}); err != nil {
			t.Fatal(err)
		}
		if hs, _ := s.Handles(ctx, "dev"); len(hs) != 2 {
			t.Fatalf("handles %v", hs)
		}
		if hs, err := s.Handles(ctx, "test"); hs != nil || err != nil {
			t.Fatalf("handles of a site never seen: %v %v", hs, err)
		}
		if err := s.SetCatchupMark(ctx, "dev", "2026-01-01T00:00:00.000Z"); err != nil {
			t.Fatal(err)
		}
		if m, _ := s.CatchupMark(ctx, "dev"); m != "2026-01-01T00:00:00.000Z" {
			t.Fatalf("catch-up mark %q", m)
		}
		if n, err := s.NotificationCount(ctx); n != 0 || err != nil {
			t.Fatalf("notifications %d %v", n, err)
		}
		if err := s.Ping(ctx); err != nil || s.Driver() != db.driver {
			t.Fatalf("ping %v, driver %q", err, s.Driver())
		}
	})
}

// Record on a closed store fails at once with ErrClosed: it must not queue
// the request where no intake loop will ever answer it.
func TestRecordAfterCloseFails(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		s := db.open(t, nil)
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
	})
}

// A job being worked keeps its attempted_at fresh, so River's rescuer (which
// retries jobs running longer than RescueAfter) never starts a second
// attempt of an execution that is still running here.
func TestRunningJobIsKeptAlive(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		ctx := context.Background()
		attempted := func(s *Store, id int64) time.Time {
			var at dbTime
			queryRow(t, s, `SELECT attempted_at FROM river_job WHERE id = ?`, []any{id}, &at)
			return at.Time
		}
		started, release, finished := make(chan int64, 1), make(chan struct{}), make(chan struct{})
		o := db.options(func(ctx context.Context, job Job) error {
			started <- job.ID
			<-release
			return nil
		})
		o.RescueAfter = 100 * time.Millisecond
		s := db.openWith(t, o)
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
		for !attempted(s, id).After(first) {
			if time.Now().After(deadline) {
				t.Fatalf("attempted_at stayed %s while the job ran: River would rescue it", first)
			}
			time.Sleep(20 * time.Millisecond)
		}
		once.Do(func() { close(release) })
		go func() {
			for {
				var st string
				_ = s.db.QueryRow(s.dia.rebind(`SELECT state FROM river_job WHERE id = ?`), id).Scan(&st)
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
	})
}

// Pruning keeps an execution whose job will still run (interrupted by a
// shutdown long ago and resumed at this start): its checkpoints and recorded
// event are what keep the resumed run from promoting a second time.
func TestPruneKeepsExecutionsStillQueued(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		ctx := context.Background()
		s := db.open(t, nil)
		defer s.Close()
		for _, app := range []string{"interrupted", "done"} {
			if _, err := s.Record(ctx, []Notification{{Site: "dev", AppID: app, Change: change(app)}}); err != nil {
				t.Fatal(err)
			}
			job := pendingJob(t, s, "dev", app)
			if _, err := s.Begin(ctx, job); err != nil {
				t.Fatal(err)
			}
			if err := s.SaveCheckpoint(ctx, job.ExecutionID, "p/promote", []byte(`{}`)); err != nil {
				t.Fatal(err)
			}
			state := "interrupted"
			if app == "done" {
				state = "acted"
				exec(t, s, `UPDATE river_job SET state = 'completed', finalized_at = `+s.dia.riverNow()+` WHERE id = ?`, job.ID)
			}
			if err := s.Finish(ctx, job, Outcome{State: state, Policies: []string{"p"}}); err != nil {
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
		if page, _ := s.Executions(ctx, ExecutionQuery{Policy: "p"}); len(page.Executions) != 1 || page.Executions[0].AppID != "interrupted" {
			t.Fatalf("after pruning, policy p lists %+v", page.Executions)
		}
		if n, _ := s.NotificationCount(ctx); n != 1 {
			t.Fatalf("%d notifications left, want the interrupted one's", n)
		}
	})
}

// Two replicas on one database record notifications for the same apps
// while workers on both claim them: every notification is claimed by
// exactly one execution, none is left behind without a waiting evaluation,
// and no app ever has two evaluations waiting.
func TestTwoReplicasShareIntakeAndClaims(t *testing.T) {
	db := postgresDB(t)
	ctx := context.Background()
	s1, s2 := db.open(t, nil), db.open(t, nil)
	defer s1.Close()
	defer s2.Close()
	apps := []string{"a", "b", "c"}
	var writers, claimers sync.WaitGroup
	for w := range 4 {
		s := []*Store{s1, s2}[w%2]
		writers.Go(func() {
			for i := range 60 {
				app := apps[(i+w)%len(apps)]
				if _, err := s.Record(ctx, []Notification{{Site: "dev", AppID: app, Change: change(app)}, {Site: "dev", AppID: apps[i%len(apps)]}}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	stop := make(chan struct{})
	begin := func(s *Store, app string) {
		var job Job
		err := s.db.QueryRow(s.dia.rebind(`SELECT job_id, execution_id FROM qsp_pending_app WHERE site = 'dev' AND app_id = ?`), app).Scan(&job.ID, &job.ExecutionID)
		if err != nil {
			return // nothing waiting now
		}
		job.Site, job.AppID, job.Attempt = "dev", app, 1
		if _, err := s.Begin(ctx, job); err != nil {
			t.Error(err)
		}
	}
	for _, s := range []*Store{s1, s2} {
		claimers.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				begin(s, apps[i%len(apps)])
			}
		})
	}
	writers.Wait()
	close(stop)
	claimers.Wait()
	for _, app := range apps {
		begin(s1, app)
	}
	var total, unclaimed, waiting, orphans int
	queryRow(t, s1, `SELECT count(*) FROM qsp_event`, nil, &total)
	queryRow(t, s1, `SELECT count(*) FROM qsp_event WHERE execution_id IS NULL`, nil, &unclaimed)
	queryRow(t, s1, `SELECT count(*) FROM qsp_pending_app`, nil, &waiting)
	queryRow(t, s1, `SELECT count(*) FROM qsp_event e WHERE NOT EXISTS (SELECT 1 FROM qsp_execution x WHERE x.id = e.execution_id)`, nil, &orphans)
	if total != 4*60*2 || unclaimed != 0 || waiting != 0 || orphans != 0 {
		t.Fatalf("%d notifications (want %d), %d unclaimed, %d evaluations still waiting, %d claimed by no execution", total, 4*60*2, unclaimed, waiting, orphans)
	}
	var execs, jobs int
	queryRow(t, s1, `SELECT count(*) FROM qsp_execution`, nil, &execs)
	queryRow(t, s1, `SELECT count(*) FROM river_job`, nil, &jobs)
	if execs != jobs {
		t.Fatalf("%d evaluations scheduled, %d executions began: some app had two waiting", jobs, execs)
	}
}

// On PostgreSQL, River's LISTEN/NOTIFY (a pgx listener beside the
// database/sql pool) wakes another replica's idle workers when a job is
// inserted: the job starts long before their next poll.
func TestInsertWakesAnotherReplicasWorkers(t *testing.T) {
	db := postgresDB(t)
	ctx := context.Background()
	intake := db.open(t, nil)
	defer intake.Close()
	ran := make(chan Job, 1)
	o := db.options(func(ctx context.Context, job Job) error { ran <- job; return nil })
	o.PollInterval = time.Minute
	worker := db.openWith(t, o)
	defer worker.Close()
	if err := worker.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer worker.Drain(ctx)
	time.Sleep(2 * time.Second) // the worker's first fetch and its LISTEN are done
	start := time.Now()
	if _, err := intake.Record(ctx, []Notification{{Site: "dev", AppID: "a", Change: change("a")}}); err != nil {
		t.Fatal(err)
	}
	select {
	case job := <-ran:
		if job.AppID != "a" {
			t.Fatalf("ran %+v", job)
		}
		t.Logf("started %s after the insert (poll interval %s)", time.Since(start), o.PollInterval)
	case <-time.After(20 * time.Second):
		t.Fatal("the job did not start within 20s: the other replica's workers were not notified")
	}
}
