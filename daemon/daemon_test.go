package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/qs-promoter/qs-promoter/engine"
	"github.com/qs-promoter/qs-promoter/qrs"
	"github.com/qs-promoter/qs-promoter/qrs/qrssim"
	"github.com/qs-promoter/qs-promoter/store"
)

// An approval set in the QMC → QRS notification → 202 → execution →
// promoted to test, properties stripped; the daemon's own property removal
// fires notifications that must not re-trigger anything. On either database.
func TestApprovalPromotesOnceWithoutLooping(t *testing.T) {
	t.Run(store.DriverSQLite, func(t *testing.T) {
		testApprovalPromotesOnce(t, newHarness(t, func(o *qrssim.SiteOptions) { o.NotifyCopies = 3 }))
	})
	t.Run(store.DriverPostgres, func(t *testing.T) {
		h := newHarness(t, func(o *qrssim.SiteOptions) { o.NotifyCopies = 3 })
		h.onPostgres()
		testApprovalPromotesOnce(t, h)
	})
}

func testApprovalPromotesOnce(t *testing.T, h *harness) {
	h.start()
	src := appByName(t, h.dev, "Sales Dashboard")
	srcContent, _ := h.dev.Content(src.ID)

	h.setProps(src.ID, map[string][]string{
		"PromoteToServer":   {"test - Overwrite"},
		"PromoteToStream":   {"Sales"},
		"PromotionApproval": {"Approve"},
	})
	waitFor(t, 20*time.Second, "the approval to be acted on", func() bool {
		return countOutcome(h.reportsFor(src.ID), OutcomeActed) == 1
	})
	h.settle(time.Second)

	rs := h.reportsFor(src.ID)
	if n := countOutcome(rs, OutcomeActed); n != 1 {
		t.Fatalf("acted %d times, want once: %+v", n, rs)
	}
	for _, r := range rs {
		if r.Outcome != OutcomeActed && r.Outcome != OutcomeSkipped {
			t.Errorf("unexpected execution %s: %s %s", r.ExecutionID, r.Outcome, r.Reason)
		}
		if r.Outcome == OutcomeSkipped && !strings.Contains(r.Reason, "daemon's own") && !strings.Contains(r.Reason, "already evaluated") {
			t.Errorf("skipped for an unexpected reason: %s", r.Reason)
		}
	}
	promoted := appsNamed(h.test, "Sales Dashboard", "Sales")
	if len(promoted) != 1 {
		t.Fatalf("test holds %d 'Sales Dashboard' apps in Sales, want 1", len(promoted))
	}
	if c, _ := h.test.Content(promoted[0].ID); c.Hash != srcContent.Hash {
		t.Errorf("promoted content %v, want the source's %v", c, srcContent)
	}
	after, _ := h.dev.App(src.ID)
	if len(after.PropertyValues("PromotionApproval")) != 0 || !after.Published {
		t.Errorf("source after promotion: published=%v approval=%v", after.Published, after.PropertyValues("PromotionApproval"))
	}

	// The audit log has the decision and both steps, and the recorded event
	// is replayable (dry-run's format).
	var acted ExecutionReport
	for _, r := range rs {
		if r.Outcome == OutcomeActed {
			acted = r
		}
	}
	ev, err := engine.ReadEventFile(acted.EventFile)
	if err != nil || ev.App.ID != src.ID {
		t.Fatalf("recorded event %s: %v", acted.EventFile, err)
	}
	lines := auditLines(t, h.dir)
	var steps, decisions int
	for _, l := range lines {
		if l["execution_id"] != acted.ExecutionID {
			continue
		}
		switch l["type"] {
		case "step":
			steps++
			if l["revision"] == "" || l["status"] != "done" {
				t.Errorf("step line %v", l)
			}
		case "decision":
			decisions++
			if l["outcome"] != OutcomeActed || l["revision"] == "" || l["policies"] == nil {
				t.Errorf("decision line %v", l)
			}
		}
	}
	if steps != 2 || decisions != 1 {
		t.Errorf("audit: %d step lines and %d decision lines for %s, want 2 and 1", steps, decisions, acted.ExecutionID)
	}

	// The store has the same records, and lists the execution under its
	// app's name and matched policy.
	ctx := context.Background()
	page, err := h.d.store.AuditRecords(ctx, store.AuditQuery{ExecutionID: acted.ExecutionID, Oldest: true})
	if err != nil || len(page.Records) != 3 || page.Records[2].Type != "decision" || page.Records[2].Outcome != OutcomeActed ||
		page.Records[0].Type != "step" || len(page.Records[0].Policies) != 1 {
		t.Fatalf("stored audit records %+v %v", page.Records, err)
	}
	policy := page.Records[0].Policies[0]
	if !slices.Contains(page.Records[2].Policies, policy) {
		t.Errorf("the decision's policies %v lack the step's %s", page.Records[2].Policies, policy)
	}
	execs, err := h.d.store.Executions(ctx, store.ExecutionQuery{Policy: policy, State: OutcomeActed})
	if err != nil || len(execs.Executions) != 1 || execs.Executions[0].ID != acted.ExecutionID || execs.Executions[0].AppName != "Sales Dashboard" {
		t.Errorf("executions of %s: %+v %v", policy, execs.Executions, err)
	}
	if ex, _ := h.d.store.Execution(ctx, acted.ExecutionID); ex == nil || len(ex.Event) == 0 {
		t.Errorf("the recorded event is not in the store: %+v", ex)
	}
}

func auditLines(t *testing.T, dir string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "data", "audit", "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		m := map[string]any{}
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("audit line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

// Promote on reload: the daemon tags the app (its own write must not loop),
// then promotes it when it reloads, once.
func TestPromoteOnReloadTagsAndPromotesWithoutLooping(t *testing.T) {
	h := newHarness(t)
	h.start()
	app := appByName(t, h.dev, "Nightly KPIs")
	before := len(appsNamed(h.test, "Nightly KPIs", "Sales"))

	// A human edit (any update) makes the tag policy match.
	if _, err := h.human.UpdateApp(context.Background(), app.ID, func(a *qrs.App) error {
		a.Description = "edited by a human"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the app to be tagged", func() bool {
		a, _ := h.dev.App(app.ID)
		return a.HasTag("PromoteOnReload")
	})
	h.settle(time.Second)
	if n := countOutcome(h.reportsFor(app.ID), OutcomeActed); n != 1 {
		t.Fatalf("tagging: acted %d times, want 1", n)
	}

	if err := h.human.ReloadApp(context.Background(), app.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the reload to be promoted", func() bool {
		return countOutcome(h.reportsFor(app.ID), OutcomeActed) == 2
	})
	h.settle(time.Second)
	rs := h.reportsFor(app.ID)
	if n := countOutcome(rs, OutcomeActed); n != 2 {
		t.Fatalf("acted %d times, want 2 (tag, promote): %+v", n, rs)
	}
	last := rs[len(rs)-1]
	for _, r := range rs {
		if r.Outcome == OutcomeActed && slices.Contains(r.Kinds, engine.KindReloaded) {
			last = r
		}
	}
	if !slices.Contains(last.Kinds, engine.KindReloaded) {
		t.Errorf("the promotion ran for %v, want a reloaded event", last.Kinds)
	}
	// Overwrite replaces the same-named app: still one there.
	if n := len(appsNamed(h.test, "Nightly KPIs", "Sales")); n != before {
		t.Errorf("test holds %d 'Nightly KPIs' in Sales, want %d (overwritten)", n, before)
	}
}

// Callbacks that are malformed, too large or not authenticated are
// rejected with the right status, and nothing is recorded.
func TestBadCallbacksAreRejectedAndNotRecorded(t *testing.T) {
	h := newHarness(t)
	h.start()
	good := h.callbackPath("dev")
	valid := `[{"changeType":2,"objectType":"App","objectID":"3b2c1f9e-7a44-4d0b-8f3e-2c9a1d5e7b21","changedProperties":["modifiedDate"]}]`
	big := `[{"changeType":2,"objectType":"App","objectID":"3b2c1f9e-7a44-4d0b-8f3e-2c9a1d5e7b21","changedProperties":["` + strings.Repeat("x", MaxCallbackBody) + `"]}]`
	cases := []struct {
		name, path, body string
		status           int
	}{
		{"wrong token", "/callback/dev/" + strings.Repeat("0", 48), valid, 404},
		{"no token", "/callback/dev/", valid, 404},
		{"unknown site", "/callback/prod/" + h.d.sites["dev"].token, valid, 404},
		{"unwatched site", "/callback/test/" + h.d.sites["dev"].token, valid, 404},
		{"not json", good, "hello", 400},
		{"object, not array", good, `{"changeType":2}`, 400},
		{"empty array", good, `[]`, 400},
		{"not a guid", good, `[{"changeType":2,"objectType":"App","objectID":"../../etc/passwd"}]`, 400},
		{"not an app", good, `[{"changeType":2,"objectType":"Stream","objectID":"3b2c1f9e-7a44-4d0b-8f3e-2c9a1d5e7b21"}]`, 400},
		{"bad change type", good, `[{"changeType":9,"objectType":"App","objectID":"3b2c1f9e-7a44-4d0b-8f3e-2c9a1d5e7b21"}]`, 400},
		{"trailing garbage", good, valid + `x`, 400},
		{"too large", good, big, 413},
	}
	for _, c := range cases {
		if status, body := h.post(c.path, []byte(c.body)); status != c.status {
			t.Errorf("%s: status %d (%s), want %d", c.name, status, strings.TrimSpace(body), c.status)
		}
	}
	if n, err := h.d.store.NotificationCount(context.Background()); err != nil || n != 0 {
		t.Fatalf("%d notifications recorded after bad callbacks (%v), want 0", n, err)
	}
	// Fields QRS may add later are accepted.
	withExtra := strings.Replace(valid, `"changeType"`, `"someNewField":{"a":1},"changeType"`, 1)
	if status, body := h.post(good, []byte(withExtra)); status != http.StatusAccepted {
		t.Fatalf("valid callback: %d %s", status, body)
	}
	if n, _ := h.d.store.NotificationCount(context.Background()); n != 1 {
		t.Fatalf("%d notifications recorded, want 1", n)
	}
}

// A storm of 1,000 notifications for 10 apps within a second: every one is
// accepted and recorded, every app is evaluated, and coalescing keeps the
// evaluations per app to a handful.
func TestNotificationStormCoalesces(t *testing.T) {
	h := newHarness(t)
	h.start()
	var ids []string
	for i := range 10 {
		a, err := h.dev.AddApp(qrssim.AppSeed{Name: fmt.Sprintf("Storm %d", i), Owner: `CORP\sales_rep`, Stream: "Sales", Size: 1024})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, a.ID)
	}
	h.settle(300 * time.Millisecond) // the adds' own notifications
	h.mu.Lock()
	h.reports = nil
	h.mu.Unlock()
	before, _ := h.d.store.NotificationCount(context.Background())

	start := time.Now()
	errs := make(chan error, 10)
	for w := range 10 {
		go func() {
			for i := range 100 {
				id := ids[(w+i)%10]
				body := fmt.Sprintf(`[{"changeType":2,"objectType":"App","objectID":%q,"changedProperties":["modifiedDate","description"]}]`, id)
				resp, err := http.Post(fmt.Sprintf("http://127.0.0.1:%d%s", h.port, h.callbackPath("dev")), "application/json", strings.NewReader(body))
				if err != nil {
					errs <- err
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusAccepted {
					errs <- fmt.Errorf("status %d", resp.StatusCode)
					return
				}
			}
			errs <- nil
		}()
	}
	for range 10 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	storm := time.Since(start)
	t.Logf("1000 notifications accepted in %s", storm)
	if storm > 3*time.Second && !raceEnabled {
		t.Errorf("intake took %s for 1,000 notifications", storm)
	}
	// A handful per app when the storm lasts a second; under the race
	// detector the storm itself lasts longer, and the bound grows with it
	// (about one evaluation per app per second at most).
	limit := 6 + int(storm/time.Second)
	h.settle(500 * time.Millisecond)
	after, _ := h.d.store.NotificationCount(context.Background())
	if after-before != 1000 {
		t.Fatalf("%d notifications recorded, want 1000", after-before)
	}
	for _, id := range ids {
		rs := h.reportsFor(id)
		evaluated := 0
		for _, r := range rs {
			if r.Outcome == OutcomeNoMatch || (r.Outcome == OutcomeSkipped && strings.Contains(r.Reason, "already evaluated")) {
				evaluated++
			}
		}
		if evaluated == 0 || len(rs) > limit {
			t.Errorf("app %s: %d executions (%d evaluated), want 1 to %d", id, len(rs), evaluated, limit)
		}
		if _, waiting, _ := h.d.store.OldestWaiting(context.Background(), "dev", id); waiting {
			t.Errorf("app %s still has notifications waiting", id)
		}
	}
}

// A QRS restart drops subscriptions: the daemon subscribes again, deletes
// what it replaced, and the site never holds more than one live set.
func TestSiteRestartResubscribesWithoutPileUp(t *testing.T) {
	h := newHarness(t)
	h.cfgExtra = "resubscribe_interval: 300ms\n"
	h.start()
	ctx := context.Background()
	for i := range 3 {
		h.dev.Restart()
		waitFor(t, 10*time.Second, "re-subscription after restart", func() bool { return len(h.dev.Subscriptions()) == len(subscriptions) })
		// A failed health check (QRS down) also leads to a new set.
		h.dev.SetFaults(qrssim.Faults{ErrorPaths: []string{"/qrs/about"}, ErrorStatus: 503})
		waitFor(t, 10*time.Second, "the site to be seen down", func() bool { return !h.d.Status().Sites[0].Up })
		h.dev.SetFaults(qrssim.Faults{})
		waitFor(t, 10*time.Second, "the site to be seen up", func() bool { return h.d.Status().Sites[0].Up })
		// Through periodic renewals too: a renewal subscribes first and then
		// deletes what it replaced (no gap), so two sets may coexist for a
		// moment, never more; at rest there is exactly one.
		deadline := time.Now().Add(time.Second)
		for time.Now().Before(deadline) {
			if n := len(h.dev.Subscriptions()); n > 2*len(subscriptions) {
				t.Fatalf("round %d: the site holds %d subscriptions", i, n)
			}
			time.Sleep(5 * time.Millisecond)
		}
		waitFor(t, 5*time.Second, "exactly one set", func() bool { return len(h.dev.Subscriptions()) == len(subscriptions) })
	}
	// They reach the daemon: an approval is still acted on.
	src := appByName(t, h.dev, "Sales Dashboard")
	h.setProps(src.ID, map[string][]string{"PromoteToServer": {"test - Duplicate"}, "PromoteToStream": {"Everyone"}, "PromotionApproval": {"Approve"}})
	waitFor(t, 20*time.Second, "the approval after restarts", func() bool { return countOutcome(h.reportsFor(src.ID), OutcomeActed) == 1 })
	for _, s := range h.dev.Subscriptions() {
		if !strings.HasPrefix(s.URL, h.d.cfg.CallbackURL+"/callback/dev/") {
			t.Errorf("subscription to %s", s.URL)
		}
	}
	// A clean shutdown unsubscribes.
	h.stop()
	if n := len(h.dev.Subscriptions()); n != 0 {
		t.Errorf("%d subscriptions left after a clean shutdown", n)
	}
	_ = ctx
}

// What changes while the daemon is stopped is handled at the next start by
// catch-up, as a reconciled event; and evaluating it again does nothing.
func TestCatchUpHandlesChangesMadeWhileStopped(t *testing.T) {
	h := newHarness(t)
	h.start()
	waitFor(t, 10*time.Second, "the first catch-up mark", func() bool {
		m, _ := h.d.store.CatchupMark(context.Background(), "dev")
		return m != ""
	})
	h.stop()

	src := appByName(t, h.dev, "Sales Dashboard")
	h.setProps(src.ID, map[string][]string{"PromoteToServer": {"test - Duplicate"}, "PromoteToStream": {"Everyone"}, "PromotionApproval": {"Approve"}})

	h.start()
	waitFor(t, 20*time.Second, "catch-up to promote", func() bool { return countOutcome(h.reportsFor(src.ID), OutcomeActed) == 1 })
	h.settle(500 * time.Millisecond)
	rs := h.reportsFor(src.ID)
	for _, r := range rs {
		if r.Outcome == OutcomeActed && !slices.Contains(r.Kinds, engine.KindReconciled) {
			t.Errorf("acted on %v, want reconciled", r.Kinds)
		}
	}
	if n := len(appsNamed(h.test, "Sales Dashboard", "Everyone")); n != 1 {
		t.Fatalf("test holds %d copies in Everyone, want 1", n)
	}
	// A second catch-up over the same changes does nothing.
	n, err := h.d.catchUp(context.Background(), h.d.sites["dev"])
	if err != nil || n != 0 {
		t.Fatalf("second catch-up queued %d (%v), want 0", n, err)
	}
}

// A bad policy edit while running: the old set keeps working, the status
// and the metric show the error, and a reload returns it.
func TestBadPolicyEditKeepsOldSet(t *testing.T) {
	h := newHarness(t)
	h.start()
	rev := h.d.Status().Policies.Revision
	bad := filepath.Join(h.dir, "policies", "30-bad.yaml")
	if err := os.WriteFile(bad, []byte("policies:\n  - name: broken\n    on: [updated]\n    when: app.nmae == 'x'\n    steps: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the failed reload to show", func() bool { return h.d.Status().Policies.LastError != "" })
	st := h.d.Status().Policies
	if st.Revision != rev || st.OK || !strings.Contains(st.LastError, "30-bad.yaml:4") {
		t.Fatalf("policies status after a bad edit: %+v", st)
	}
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", h.port))
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(metrics), "qsp_policies_last_reload_successful 0") {
		t.Error("the reload gauge does not show the failure")
	}
	if err := h.d.Reload(); err == nil || !strings.Contains(err.Error(), "30-bad.yaml:4") {
		t.Errorf("reload: %v", err)
	}
	// The old set still acts.
	src := appByName(t, h.dev, "Sales Dashboard")
	h.setProps(src.ID, map[string][]string{"PromoteToServer": {"test - Duplicate"}, "PromoteToStream": {"Everyone"}, "PromotionApproval": {"Approve"}})
	waitFor(t, 20*time.Second, "the old policies to act", func() bool { return countOutcome(h.reportsFor(src.ID), OutcomeActed) == 1 })

	// Fixing the file recovers.
	os.Remove(bad)
	if err := h.d.Reload(); err != nil {
		t.Errorf("reload after the fix: %v", err)
	}
	if st := h.d.Status().Policies; !st.OK || st.LastError != "" {
		t.Errorf("status after the fix: %+v", st)
	}
}

// The operations endpoints answer.
func TestOperationsEndpoints(t *testing.T) {
	h := newHarness(t)
	h.start()
	waitFor(t, 10*time.Second, "readiness", func() bool {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", h.port))
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	// Without a console, /status and /-/reload are nowhere.
	if status, _ := h.post("/-/reload", nil); status != http.StatusNotFound && status != http.StatusMethodNotAllowed {
		t.Errorf("POST /-/reload on the callback listener without a console: %d", status)
	}
	statusJSON, _ := json.Marshal(h.d.Status())
	for _, p := range []string{"/healthz", "/status", "/metrics"} {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d%s", h.port, p))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if p == "/status" {
			if resp.StatusCode != http.StatusNotFound {
				t.Errorf("/status on the callback listener without a console: %d", resp.StatusCode)
			}
			b = statusJSON
		} else if resp.StatusCode != 200 {
			t.Errorf("%s: %d %s", p, resp.StatusCode, b)
		}
		if p == "/status" {
			var st Status
			if err := json.Unmarshal(b, &st); err != nil || !st.Ready || len(st.Sites) != 2 || len(st.Sites[0].Subscriptions) != 2 || st.Policies.Policies != 3 {
				t.Errorf("status %s (%v)", b, err)
			}
			if strings.Contains(string(b), h.d.sites["dev"].token) {
				t.Error("/status shows the callback secret")
			}
		}
		if p == "/metrics" && !strings.Contains(string(b), "qsp_qrs_request_duration_seconds_bucket{method=\"GET\",site=\"dev\",status=\"200\"") {
			t.Error("/metrics lacks the QRS latency per site and status")
		}
	}
	// Site down → not ready.
	h.dev.SetFaults(qrssim.Faults{ErrorPaths: []string{"/qrs/about"}, ErrorStatus: 503})
	waitFor(t, 10*time.Second, "unreadiness", func() bool {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", h.port))
		if err != nil {
			return false
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode == 503 && strings.Contains(string(b), "site dev: unreachable")
	})
}

// A reload made while the daemon was stopped is caught up as a reconciled
// event that is also `reloaded`, so promote on reload still runs, once.
func TestCatchUpPromotesAReloadMadeWhileStopped(t *testing.T) {
	h := newHarness(t)
	h.start()
	app := appByName(t, h.dev, "Nightly KPIs")
	waitFor(t, 20*time.Second, "the first catch-up mark", func() bool {
		m, _ := h.d.store.CatchupMark(context.Background(), "dev")
		return m != ""
	})
	h.stop()
	before := len(appsNamed(h.test, "Nightly KPIs", "Sales"))
	if err := h.human.ReloadApp(context.Background(), app.ID); err != nil {
		t.Fatal(err)
	}

	h.start()
	waitFor(t, 20*time.Second, "catch-up to promote the reload", func() bool {
		for _, r := range h.reportsFor(app.ID) {
			if r.Outcome == OutcomeActed && slices.Contains(r.Kinds, engine.KindReloaded) {
				return true
			}
		}
		return false
	})
	h.settle(500 * time.Millisecond)
	promoted := 0
	for _, r := range h.reportsFor(app.ID) {
		if r.Outcome != OutcomeActed || !slices.Contains(r.Kinds, engine.KindReloaded) {
			continue
		}
		promoted++
		if !slices.Contains(r.Kinds, engine.KindReconciled) {
			t.Errorf("the promotion ran for %v, want a reconciled, reloaded event", r.Kinds)
		}
	}
	if promoted != 1 {
		t.Errorf("promoted %d times, want 1", promoted)
	}
	if n := len(appsNamed(h.test, "Nightly KPIs", "Sales")); n != before {
		t.Errorf("test holds %d 'Nightly KPIs' in Sales, want %d (overwritten)", n, before)
	}
}

// A reload handled live is not promoted again by catch-up when a later,
// missed change of the app is caught up.
func TestCatchUpDoesNotReplayAReloadHandledLive(t *testing.T) {
	h := newHarness(t)
	h.start()
	app := appByName(t, h.dev, "Nightly KPIs")
	waitFor(t, 20*time.Second, "the first catch-up mark", func() bool {
		m, _ := h.d.store.CatchupMark(context.Background(), "dev")
		return m != ""
	})
	promotions := func() (n int) {
		for _, r := range h.reportsFor(app.ID) {
			if r.Outcome == OutcomeActed && slices.Contains(r.Kinds, engine.KindReloaded) {
				n++
			}
		}
		return n
	}
	if err := h.human.ReloadApp(context.Background(), app.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the live reload to be promoted", func() bool { return promotions() == 1 })
	h.settle(500 * time.Millisecond)
	h.stop()

	if _, err := h.human.UpdateApp(context.Background(), app.ID, func(a *qrs.App) error {
		a.Description = "edited while the daemon was stopped"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	h.start()
	waitFor(t, 20*time.Second, "catch-up to evaluate the edit", func() bool {
		for _, r := range h.reportsFor(app.ID) {
			if slices.Contains(r.Kinds, engine.KindReconciled) {
				return true
			}
		}
		return false
	})
	h.settle(500 * time.Millisecond)
	if n := promotions(); n != 1 {
		t.Errorf("promoted %d times, want 1 (the live reload only)", n)
	}
}
