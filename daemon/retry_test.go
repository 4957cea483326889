package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qs-promoter/qs-promoter/engine"
	"github.com/qs-promoter/qs-promoter/qrs"
	"github.com/qs-promoter/qs-promoter/store"
)

// flakyPolicy runs three steps on an approval: first, call (whose outcome
// a test scripts), then results (on_error: continue lets it report a
// failed call, as a results e-mail does).
const flakyPolicy = `policies:
  - name: flaky
    on: [updated, reconciled]
    when: app.published and lower(first(app.properties.PromotionApproval)) contains "approve"
    steps:
      - id: first
        action: add-tag
        with: {tag: First}
      - id: call
        action: add-tag
        on_error: continue
        with: {tag: Call}
      - id: results
        action: add-tag
        with: {tag: Results}
`

// scripted stands in for add-tag: it records each run by step and answers
// as the test says (call's answer for its nth run).
type scripted struct {
	spec engine.ActionSpec
	call func(ctx context.Context, n int) error

	mu   sync.Mutex
	runs map[string]int // step id → runs
}

func (a *scripted) Spec() engine.ActionSpec { return a.spec }

func (a *scripted) Run(ctx context.Context, in *engine.StepInput) (engine.Result, error) {
	id := in.StepKey[strings.LastIndex(in.StepKey, "/")+1:]
	a.mu.Lock()
	a.runs[id]++
	n := a.runs[id]
	a.mu.Unlock()
	if id == "call" && a.call != nil {
		if err := a.call(ctx, n); err != nil {
			return engine.Result{}, err
		}
	}
	return engine.Result{Status: engine.StatusDone, Summary: id + " done"}, nil
}

func (a *scripted) ran(step string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.runs[step]
}

// retryHarness is a harness whose only policy is flakyPolicy, with add-tag
// scripted, attempts retried after delay, and a mailbox telling admin@.
func retryHarness(t *testing.T, delay time.Duration, extra string, call func(h *harness, ctx context.Context, n int) error) (*harness, *scripted, *mailbox) {
	h := newHarness(t)
	for _, f := range []string{"10-reload.yaml", "20-approval.yaml"} {
		if err := os.Remove(filepath.Join(h.dir, "policies", f)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(h.dir, "policies", "flaky.yaml"), []byte(flakyPolicy), 0o644); err != nil {
		t.Fatal(err)
	}
	mb := startMailbox(t)
	h.cfgExtra = mb.config("admin@example.com") + extra
	h.storeOpts = func(o *store.Options) { o.RetryDelay = func(int) time.Duration { return delay } }
	act := &scripted{runs: map[string]int{}}
	if call != nil {
		act.call = func(ctx context.Context, n int) error { return call(h, ctx, n) }
	}
	h.prepare = func(d *Daemon) {
		act.spec = d.acts["add-tag"].Spec()
		d.acts["add-tag"] = act
	}
	h.start()
	return h, act, mb
}

// approve sets PromotionApproval on the dev app and returns its ID.
func (h *harness) approve(name string) string {
	h.t.Helper()
	app := appByName(h.t, h.dev, name)
	h.setProps(app.ID, map[string][]string{"PromotionApproval": {"Approve"}})
	return app.ID
}

// finalReport waits for the app's first report that is not retried.
func (h *harness) finalReport(appID string, timeout time.Duration) ExecutionReport {
	h.t.Helper()
	var final ExecutionReport
	waitFor(h.t, timeout, "the execution's final outcome", func() bool {
		for _, r := range h.reportsFor(appID) {
			if !r.WillRetry && r.Outcome != OutcomeSkipped {
				final = r
				return true
			}
		}
		return false
	})
	return final
}

// get reads one of the daemon's endpoints.
func (h *harness) get(path string) string {
	h.t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d%s", h.port, path))
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func unavailable(site string) error {
	return &qrs.Error{Site: site, Method: "POST", Path: "/qrs/app/upload", Status: http.StatusServiceUnavailable}
}

// A step that fails transiently makes the execution run again: the steps
// that finished are not run again, the failed one is, and the steps after
// it run only once it succeeds (on_error: continue is for the final
// failure). Meanwhile the execution is listed as retrying with its next
// attempt and last error, and a later change of the app waits for it.
func TestTransientStepFailureRetriesTheExecution(t *testing.T) {
	h, act, mb := retryHarness(t, 2*time.Second, "max_attempts: 3\n", func(h *harness, ctx context.Context, n int) error {
		if n == 1 {
			return fmt.Errorf("promote failed on site test: %w", unavailable("test"))
		}
		return nil
	})
	appID := h.approve("Sales Dashboard")
	var listed store.WaitingExecution
	waitFor(t, 10*time.Second, "the first attempt to fail", func() bool { return len(h.reportsFor(appID)) > 0 })
	// A change made while the execution waits for its retry is evaluated
	// after it, not beside it.
	h.setProps(appID, map[string][]string{"PromoteToStream": {"Sales"}})
	waitFor(t, 2*time.Second, "the execution listed as retrying", func() bool {
		w := h.d.Status().Waiting
		if len(w) == 1 {
			listed = w[0]
		}
		return len(w) == 1
	})
	final := h.finalReport(appID, 20*time.Second)

	first := h.reportsFor(appID)[0]
	if first.Outcome != OutcomeError || !first.WillRetry || first.Attempt != 1 || first.NextAttempt.IsZero() ||
		!strings.Contains(first.Reason, "step flaky/call failed transiently: promote failed on site test") {
		t.Errorf("first attempt: %+v", first)
	}
	if listed.ID != first.ExecutionID || listed.State != store.StateRetrying || !strings.Contains(listed.LastError, "503") {
		t.Errorf("listed as waiting: %+v", listed)
	}
	if final.ExecutionID != first.ExecutionID || final.Outcome != OutcomeActed || final.Attempt != 2 {
		t.Errorf("final: %+v", final)
	}
	if act.ran("first") != 1 || act.ran("call") != 2 {
		t.Errorf("runs: first %d, call %d; want 1 and 2", act.ran("first"), act.ran("call"))
	}
	h.settle(300 * time.Millisecond)
	reps := h.reportsFor(appID)
	if len(reps) < 3 || reps[2].ExecutionID == first.ExecutionID {
		t.Fatalf("the later change was not evaluated after the retried execution: %+v", reps)
	}
	// The later change ran the policy again, from the start.
	if act.ran("results") != 2 || act.ran("first") != 2 {
		t.Errorf("runs after the later change: first %d, results %d; want 2 each", act.ran("first"), act.ran("results"))
	}
	var statuses []string
	for _, l := range auditLinesIfAny(h.dir) {
		if l["type"] == "step" && l["execution_id"] == first.ExecutionID {
			statuses = append(statuses, fmt.Sprint(l["step"], "=", l["status"]))
		}
	}
	if got := strings.Join(statuses, " "); got != "first=done call=retrying first=done call=done results=done" {
		t.Errorf("audit steps: %s", got)
	}
	if n := len(mb.messages()); n != 0 {
		t.Errorf("%d e-mails to the admin about an execution that succeeded", n)
	}
}

// On the last attempt a transient failure is final: the results step runs
// (once), the execution fails, and the admin is e-mailed with the app, the
// policy, the step and the error. Once the cause is fixed an admin runs it
// again: the same execution, its finished steps not run again.
func TestFinalFailureIsReportedAndCanBeRetried(t *testing.T) {
	var fixed atomic.Bool
	h, act, mb := retryHarness(t, 200*time.Millisecond, "max_attempts: 2\n", func(h *harness, ctx context.Context, n int) error {
		if fixed.Load() {
			return nil
		}
		return fmt.Errorf("promote failed on site test: %w", unavailable("test"))
	})
	appID := h.approve("Sales Dashboard")
	final := h.finalReport(appID, 20*time.Second)
	if final.Outcome != OutcomeFailed || final.Attempt != 2 || final.Reason != "the last of 2 attempts: its failures are final" {
		t.Fatalf("final: %+v", final)
	}
	if act.ran("call") != 2 || act.ran("results") != 1 || act.ran("first") != 1 {
		t.Errorf("runs: first %d, call %d, results %d; want 1, 2, 1", act.ran("first"), act.ran("call"), act.ran("results"))
	}
	waitFor(t, 10*time.Second, "the admin's e-mail", func() bool { return len(mb.messages()) > 0 })
	m := mb.messages()[0]
	if len(m.To) != 1 || m.To[0] != "admin@example.com" || m.Subject != "qs-promoter: 'Sales Dashboard' failed at flaky/call" {
		t.Errorf("admin e-mail to %v: %q", m.To, m.Subject)
	}
	for _, want := range []string{"'Sales Dashboard' (" + appID + ") on site dev", "policy flaky, step call (add-tag)",
		"promote failed on site test: qrs test: POST /qrs/app/upload: 503 Service Unavailable", "attempt 2 of 2",
		"qs-promoter retry --config " + filepath.Join(h.dir, "qs-promoter.yaml") + " " + final.ExecutionID} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("the admin's e-mail lacks %q:\n%s", want, m.Text)
		}
	}

	retry := func(id string) (*store.Execution, string) {
		e, err := h.d.RetryExecution(context.Background(), id, "admin")
		if err != nil {
			return e, err.Error()
		}
		return e, ""
	}
	if _, err := h.d.RetryExecution(context.Background(), "20260101T000000.000Z-00000000", "admin"); !errors.Is(err, store.ErrNoExecution) {
		t.Errorf("retry of an unknown execution: %v", err)
	}
	fixed.Store(true)
	// The hook sees the outcome just before the queue does: while the job
	// is still running, the retry is refused.
	// The first retry as `qs-promoter retry` makes it: beside the daemon,
	// in its database; the daemon's worker takes it up.
	var queued *store.Execution
	var refused string
	waitFor(t, 10*time.Second, "the failed job to leave the queue", func() bool {
		e, err := RetryBeside(context.Background(), h.d.cfg, final.ExecutionID, "admin")
		queued, refused = e, ""
		if err != nil {
			refused = err.Error()
		}
		return !strings.Contains(refused, "job running")
	})
	if queued == nil || refused != "" || queued.ID != final.ExecutionID {
		t.Fatalf("retry %s: %+v %s", final.ExecutionID, queued, refused)
	}
	var again ExecutionReport
	waitFor(t, 20*time.Second, "the retried execution", func() bool {
		for _, r := range h.reportsFor(appID) {
			if r.ExecutionID == final.ExecutionID && r.Outcome == OutcomeActed {
				again = r
				return true
			}
		}
		return false
	})
	if again.Attempt != 1 {
		t.Errorf("the retry's attempt %d, want 1 (a fresh set)", again.Attempt)
	}
	if act.ran("call") != 3 || act.ran("first") != 1 || act.ran("results") != 1 {
		t.Errorf("runs after the retry: first %d, call %d, results %d; want 1, 3, 1", act.ran("first"), act.ran("call"), act.ran("results"))
	}
	waitFor(t, 10*time.Second, "the job to leave the queue", func() bool {
		_, refused = retry(final.ExecutionID)
		return !strings.Contains(refused, "job running")
	})
	if !strings.Contains(refused, "ended acted: only a failed execution can be retried") {
		t.Errorf("a second retry: %s", refused)
	}
	page, err := h.d.store.AuditRecords(context.Background(), store.AuditQuery{ExecutionID: final.ExecutionID, Type: "retry"})
	if err != nil || len(page.Records) != 1 || page.Records[0].User != "admin" {
		t.Errorf("the retry's audit record: %+v %v", page.Records, err)
	}
	if n := len(mb.messages()); n != 1 {
		t.Errorf("%d admin e-mails, want 1", n)
	}
}

// A permanent failure is final at once: one attempt, the results step
// runs, the admin is told.
func TestPermanentStepFailureIsNotRetried(t *testing.T) {
	h, act, mb := retryHarness(t, 200*time.Millisecond, "max_attempts: 5\n", func(h *harness, ctx context.Context, n int) error {
		return &qrs.Error{Site: "test", Method: "POST", Path: "/qrs/app/upload", Status: http.StatusForbidden}
	})
	appID := h.approve("Sales Dashboard")
	final := h.finalReport(appID, 20*time.Second)
	if final.Outcome != OutcomeFailed || final.Attempt != 1 || len(h.reportsFor(appID)) != 1 {
		t.Fatalf("reports: %+v", h.reportsFor(appID))
	}
	if act.ran("call") != 1 || act.ran("results") != 1 {
		t.Errorf("runs: call %d, results %d", act.ran("call"), act.ran("results"))
	}
	waitFor(t, 10*time.Second, "the admin's e-mail", func() bool { return len(mb.messages()) == 1 })
}

// While a site the execution needs is down, it waits: recorded once as
// waiting, checked again and again without using attempts (max_attempts
// 2), and run as soon as the site is back.
func TestExecutionWaitsForADownSiteWithoutUsingAttempts(t *testing.T) {
	h, act, _ := retryHarness(t, 200*time.Millisecond, "max_attempts: 2\n", func(h *harness, ctx context.Context, n int) error {
		_, err := h.d.sites["test"].client.About(qrs.WithRetryBudget(ctx, 0))
		return err
	})
	h.test.RestartFor(time.Hour)
	waitFor(t, 10*time.Second, "site test to be known down", func() bool { return h.d.siteDown("test") })
	appID := h.approve("Sales Dashboard")
	waitFor(t, 10*time.Second, "the execution to wait", func() bool { return len(h.reportsFor(appID)) > 0 })
	first := h.reportsFor(appID)[0]
	if first.Outcome != OutcomeWaiting || !first.WillRetry || !strings.Contains(first.Reason, "site test is down") {
		t.Fatalf("first: %+v", first)
	}
	var w []store.WaitingExecution
	// It looks again every 100ms here, and is listed between two looks:
	// a loaded machine may need a few tries to see it so.
	waitFor(t, 20*time.Second, "the waiting execution on /status", func() bool {
		w = h.d.Status().Waiting
		return len(w) == 1
	})
	if w[0].ID != first.ExecutionID || w[0].State != store.StateWaiting || w[0].Attempts != 0 || w[0].NextAttempt.IsZero() {
		t.Errorf("waiting: %+v", w[0])
	}
	wantMetrics := []string{`qsp_executions_waiting{state="waiting"} 1`, `qsp_executions_waiting{state="retrying"} 0`,
		`qsp_executions_next_attempt_timestamp_seconds{state="waiting"}`, `qsp_executions_total{outcome="waiting"} 1`}
	var metrics string
	waitFor(t, 20*time.Second, "the waiting execution on /metrics", func() bool {
		metrics = h.get("/metrics")
		for _, want := range wantMetrics {
			if !strings.Contains(metrics, want) {
				return false
			}
		}
		return true
	})
	// A few seconds of checks (one every health_interval, 100ms here).
	time.Sleep(3 * time.Second)
	if n := len(h.reportsFor(appID)); n != 1 {
		t.Errorf("%d reports while waiting, want the wait recorded once", n)
	}
	if act.ran("call") != 1 {
		t.Errorf("the step ran %d times while its site was down", act.ran("call"))
	}
	h.test.RestartFor(time.Millisecond) // back
	final := h.finalReport(appID, 20*time.Second)
	if final.Outcome != OutcomeActed || final.Attempt != 1 || final.ExecutionID != first.ExecutionID {
		t.Errorf("final: %+v", final)
	}
	if act.ran("first") != 1 || act.ran("call") != 2 || act.ran("results") != 1 {
		t.Errorf("runs: first %d, call %d, results %d", act.ran("first"), act.ran("call"), act.ran("results"))
	}
}

// An execution gives up on age, not on a count: past give_up_after, its
// next look runs a last attempt whose failures are final (the results step
// reports them), and the admin is told.
func TestExecutionGivesUpAfterGiveUpAfter(t *testing.T) {
	h, act, mb := retryHarness(t, 200*time.Millisecond, "max_attempts: 100\ngive_up_after: 3s\n", func(h *harness, ctx context.Context, n int) error {
		_, err := h.d.sites["test"].client.About(qrs.WithRetryBudget(ctx, 0))
		return err
	})
	h.test.RestartFor(time.Hour)
	waitFor(t, 10*time.Second, "site test to be known down", func() bool { return h.d.siteDown("test") })
	appID := h.approve("Sales Dashboard")
	final := h.finalReport(appID, 20*time.Second)
	if final.Outcome != OutcomeFailed || !strings.HasPrefix(final.Reason, "gave up after ") || !strings.Contains(final.Reason, "(give_up_after 3s)") {
		t.Fatalf("final: %+v", final)
	}
	if reps := h.reportsFor(appID); len(reps) != 2 || reps[0].Outcome != OutcomeWaiting {
		t.Errorf("reports: %+v", reps)
	}
	if act.ran("call") != 2 || act.ran("results") != 1 {
		t.Errorf("runs: call %d, results %d; want 2 and 1", act.ran("call"), act.ran("results"))
	}
	waitFor(t, 10*time.Second, "the admin's e-mail", func() bool { return len(mb.messages()) == 1 })
	if m := mb.messages()[0]; !strings.Contains(m.Text, "gave up after") {
		t.Errorf("the admin's e-mail does not say it gave up:\n%s", m.Text)
	}
	var rec map[string]any
	for _, l := range auditLinesIfAny(h.dir) {
		if l["type"] == "decision" && l["outcome"] == OutcomeWaiting {
			rec = l
		}
	}
	if rec == nil || rec["next_attempt"] == nil {
		raw, _ := json.Marshal(rec)
		t.Errorf("the audit log's waiting decision: %s", raw)
	}
}
