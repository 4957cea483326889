package daemon

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/qs-promoter/qs-promoter/engine"
	"github.com/qs-promoter/qs-promoter/qrs"
	"github.com/qs-promoter/qs-promoter/qrs/qrssim"
)

// An approval made while an execution for the same app runs, and then
// overwritten by that execution's own write (UpdateApp re-reads the app, so
// the daemon's PUT carries the human's change and leaves modifiedByUserName
// as the daemon's user), must still be evaluated: "the last change was the
// daemon's own" is only true when every notification is explained by it.
func TestApprovalDuringOwnWriteIsNotSkipped(t *testing.T) {
	h := newHarness(t)
	h.start()
	src := appByName(t, h.dev, "Sales Dashboard")

	// Hold the app's execution slot: an execution for it is "running".
	unlock, err := h.d.locks.lock(context.Background(), "dev/"+src.ID)
	if err != nil {
		t.Fatal(err)
	}
	h.setProps(src.ID, map[string][]string{
		"PromoteToServer":   {"test - Duplicate"},
		"PromoteToStream":   {"Everyone"},
		"PromotionApproval": {"Approve"},
	})
	// The running execution's own write, made on top of the approval.
	own, err := qrs.NewClient(h.dev.ClientConfig())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := own.UpdateApp(context.Background(), src.ID, func(a *qrs.App) error {
		a.Description = "written by the daemon"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// Both notifications are recorded before the execution ends.
	waitFor(t, 10*time.Second, "both notifications", func() bool {
		n, _ := h.d.store.NotificationCount(context.Background())
		return n >= 2
	})
	unlock()

	waitFor(t, 20*time.Second, "the approval to be acted on", func() bool {
		return countOutcome(h.reportsFor(src.ID), OutcomeActed) == 1
	})
	if n := len(appsNamed(h.test, "Sales Dashboard", "Everyone")); n != 1 {
		t.Fatalf("test holds %d copies in Everyone, want 1", n)
	}
}

func TestOthersChange(t *testing.T) {
	ev := func(now string, notified ...string) *engine.Event {
		e := &engine.Event{App: &qrs.App{ModifiedDate: now}}
		for _, m := range notified {
			e.Notification = append(e.Notification, qrs.ChangeInfo{ModifiedDate: m})
		}
		return e
	}
	const t1, t2, t3 = "2026-01-01T10:00:00.000Z", "2026-01-01T10:00:01.000Z", "2026-01-01T10:00:02.000Z"
	for _, c := range []struct {
		name, evaluated, want string
		ev                    *engine.Event
	}{
		{"only the own write", t1, "", ev(t3, t3, t3)},
		{"a change already evaluated", t2, "", ev(t3, t2, t3)},
		{"a change in between", t1, t2, ev(t3, t2, t3)},
		{"never evaluated", "", t2, ev(t3, t2, t3)},
		{"reconciled (no notification)", t1, "", ev(t3)},
		{"no modifiedDate in the notification", t1, "", ev(t3, "")},
	} {
		if got := othersChange(c.ev, c.evaluated); got != c.want {
			t.Errorf("%s: othersChange = %q, want %q", c.name, got, c.want)
		}
	}
}

// A start whose first subscription attempt fails still catches up as soon
// as the subscription succeeds (not only at the next catchup_interval):
// what changed while the daemon was stopped is handled.
func TestCatchUpAfterFailedFirstSubscription(t *testing.T) {
	h := newHarness(t)
	h.cfgExtra = "catchup_interval: 1h\n"
	h.start()
	waitFor(t, 10*time.Second, "the first catch-up mark", func() bool {
		m, _ := h.d.store.CatchupMark(context.Background(), "dev")
		return m != ""
	})
	h.stop()

	src := appByName(t, h.dev, "Sales Dashboard")
	h.setProps(src.ID, map[string][]string{"PromoteToServer": {"test - Duplicate"}, "PromoteToStream": {"Everyone"}, "PromotionApproval": {"Approve"}})
	h.dev.SetFaults(qrssim.Faults{ErrorPaths: []string{"/qrs/notification"}, ErrorCount: 1})
	h.start()
	waitFor(t, 20*time.Second, "catch-up to promote", func() bool { return countOutcome(h.reportsFor(src.ID), OutcomeActed) == 1 })
}

// The callback self-check accepts the daemon's own callback_url and names
// the problem for one that reaches nothing or another process.
func TestCheckCallbackURL(t *testing.T) {
	h := newHarness(t)
	h.start()
	ctx := context.Background()
	if err := h.d.checkCallbackURL(ctx); err != nil {
		t.Fatalf("the daemon's own callback_url: %v", err)
	}
	good := h.d.cfg.CallbackURL
	defer func() { h.d.cfg.CallbackURL = good }()

	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") }))
	defer other.Close()
	h.d.cfg.CallbackURL = other.URL
	if err := h.d.checkCallbackURL(ctx); err == nil || !strings.Contains(err.Error(), "reaches another process") {
		t.Errorf("another process: %v", err)
	}
	other.Close()
	h.d.cfg.CallbackURL = other.URL // now closed: nothing answers
	if err := h.d.checkCallbackURL(ctx); err == nil || !strings.Contains(err.Error(), "does not answer from this machine") {
		t.Errorf("nothing there: %v", err)
	}
}

// A daemon whose callback_url reaches another process is not ready: the
// subscriptions succeed, but no notification would ever arrive.
func TestNotReadyWhileCallbackURLMissesTheDaemon(t *testing.T) {
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") }))
	defer other.Close()
	h := newHarness(t)
	h.callback = other.URL
	h.start()
	want := "callback_url " + other.URL + " reaches another process, not this daemon (GET /healthz answered 200 OK): check its host and port against listen (127.0.0.1:" + fmt.Sprint(h.port) + ")"
	waitFor(t, 10*time.Second, "the self-check", func() bool { return slices.Contains(h.d.Status().Problems, want) })
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", h.port))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), want) {
		t.Errorf("/readyz: %d %s", resp.StatusCode, body)
	}
}

// The first catch-up mark is set before the first subscription exists, so
// a change QRS would notify is never taken for the site's history by a
// first catch-up made after it (the daemon killed as the notification
// came): the site's request log shows the first catch-up's list before the
// first subscription.
func TestFirstMarkComesBeforeTheFirstSubscription(t *testing.T) {
	h := newHarness(t)
	h.cfgExtra = "catchup_interval: 1h\n"
	h.start()
	list, subscribe := -1, -1
	for i, r := range h.dev.Requests() {
		switch {
		case list < 0 && r.Method == "GET" && r.Path == "/qrs/app/full":
			list = i
		case subscribe < 0 && r.Method == "POST" && r.Path == "/qrs/notification":
			subscribe = i
		}
	}
	if list < 0 || subscribe < 0 || list > subscribe {
		t.Errorf("first app list at request %d, first subscription at %d: the mark must come first", list, subscribe)
	}
	if m, _ := h.d.store.CatchupMark(context.Background(), "dev"); m == "" {
		t.Error("subscribed without a catch-up mark")
	}
}
