package qrs_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/qs-promoter/qs-promoter/qrs"
	"github.com/qs-promoter/qs-promoter/qrs/qrssim"
)

// statuses lists the answers a site gave to method on paths containing part.
func statuses(s *qrssim.Site, method, part string) []int {
	var out []int
	for _, r := range s.Requests() {
		if r.Method == method && strings.Contains(strings.ToLower(r.Path), strings.ToLower(part)) {
			out = append(out, r.Status)
		}
	}
	return out
}

func countApps(s *qrssim.Site, name string) int {
	n := 0
	for _, a := range s.Apps() {
		if a.Name == name {
			n++
		}
	}
	return n
}

// Every write, with the simulator answering 500 once before doing the work
// and once after it: the write completes exactly once. Before: the client
// finds nothing done and makes the call again. After: it finds the work
// done and does not repeat it.
func TestWritesSurviveA500(t *testing.T) {
	for _, after := range []bool{false, true} {
		when := map[bool]string{false: "before", true: "after"}[after]
		t.Run(when, func(t *testing.T) { testWritesSurviveA500(t, after) })
	}
}

func testWritesSurviveA500(t *testing.T, after bool) {
	sim := startSim(t)
	dev, test := sim.Site("dev"), sim.Site("test")
	c, tc := simClient(t, dev, nil), simClient(t, test, nil)
	ctx := context.Background()
	src := appNamed(t, c, "Sales Pipeline")
	sales, ok := dev.StreamByName("Sales")
	if !ok {
		t.Fatal("no Sales stream")
	}
	work := 0.0
	if after {
		work = 1
	}
	// fail makes the next method request to a path with this prefix fail.
	fail := func(site *qrssim.Site, method, prefix string) {
		site.SetFaults(qrssim.Faults{ErrorMethods: []string{method}, ErrorPaths: []string{prefix}, ErrorStatus: 500, ErrorCount: 1, AfterWork: work})
		site.ResetRequests()
	}
	// want checks the answers to the write: a 500, then a success only
	// when the first attempt did nothing.
	want := func(t *testing.T, site *qrssim.Site, method, part string, ok int) {
		t.Helper()
		exp := []int{500}
		if !after {
			exp = append(exp, ok)
		}
		if got := statuses(site, method, part); !slices.Equal(got, exp) {
			t.Errorf("%s %s answered %v, want %v", method, part, got, exp)
		}
	}
	fresh := func(t *testing.T, name string) *qrs.App {
		t.Helper()
		dev.SetFaults(qrssim.Faults{})
		a, err := c.CopyApp(ctx, src.ID, name)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}

	t.Run("copy", func(t *testing.T) {
		fail(dev, "POST", "/qrs/app/"+src.ID+"/copy")
		cp, err := c.CopyApp(ctx, src.ID, "copy")
		if err != nil {
			t.Fatal(err)
		}
		if n := countApps(dev, "copy"); n != 1 || cp.Name != "copy" {
			t.Errorf("%d apps named copy, returned %q", n, cp.Name)
		}
		want(t, dev, "POST", "/copy", 201)
	})

	t.Run("copy keeping the name", func(t *testing.T) {
		n := countApps(dev, src.Name)
		fail(dev, "POST", "/qrs/app/"+src.ID+"/copy")
		cp, err := c.CopyApp(ctx, src.ID, "")
		if err != nil {
			t.Fatal(err)
		}
		if got := countApps(dev, src.Name); got != n+1 || cp.ID == src.ID {
			t.Errorf("%d apps named %q (was %d), copy %s", got, src.Name, n, cp.ID)
		}
		want(t, dev, "POST", "/copy", 201)
	})

	t.Run("upload", func(t *testing.T) {
		fail(test, "POST", "/qrs/app/upload")
		body := bytes.Repeat([]byte("qvf"), 10000)
		up, err := tc.UploadApp(ctx, "uploaded", true, bytes.NewReader(body), int64(len(body)))
		if err != nil {
			t.Fatal(err)
		}
		if n := countApps(test, "uploaded"); n != 1 {
			t.Errorf("%d apps uploaded", n)
		}
		if got, _ := test.Content(up.ID); got.Size != int64(len(body)) {
			t.Errorf("the app holds %d bytes, want %d", got.Size, len(body))
		}
		want(t, test, "POST", "/upload", 201)
	})

	t.Run("upload of a body that cannot be read again", func(t *testing.T) {
		fail(test, "POST", "/qrs/app/upload")
		_, err := tc.UploadApp(ctx, "once", true, io.MultiReader(bytes.NewReader(make([]byte, 1<<12))), -1)
		n := countApps(test, "once")
		switch {
		case !after && (statusOf(err) != 500 || !qrs.IsRetryable(err) || n != 0):
			t.Errorf("500 before the work: %v, %d apps; want the 500 and none", err, n)
		case after && (err != nil || n != 1):
			t.Errorf("500 after the work: %v, %d apps; want the app found", err, n)
		}
		if got := statuses(test, "POST", "/upload"); len(got) != 1 {
			t.Errorf("uploads answered %v, want one", got)
		}
	})

	for _, tc := range []struct{ name, method, prefix string }{
		{"export", "POST", "/qrs/app/" + src.ID + "/export"},
		{"export download", "GET", "/tempcontent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fail(dev, tc.method, tc.prefix)
			d, err := c.ExportApp(ctx, src.ID, false)
			if err != nil {
				t.Fatal(err)
			}
			n, err := io.Copy(io.Discard, d)
			d.Close()
			if wantSize := content(t, dev, src.ID).Size; err != nil || n != wantSize {
				t.Errorf("downloaded %d bytes (%v), want %d", n, err, wantSize)
			}
			// A new token each time; the failed one is cancelled.
			if got := statuses(dev, "POST", "/export/"); len(got) != 2 {
				t.Errorf("exports answered %v, want two", got)
			}
			if got := statuses(dev, "DELETE", "/export/"); len(got) == 0 && (after || tc.method == "GET") {
				t.Error("the failed export's token was not cancelled")
			}
		})
	}

	t.Run("publish", func(t *testing.T) {
		a := fresh(t, "to publish")
		fail(dev, "PUT", "/qrs/app/*/publish")
		pub, err := c.PublishApp(ctx, a.ID, sales.ID, "published")
		if err != nil {
			t.Fatal(err)
		}
		if !pub.Published || pub.Stream == nil || pub.Stream.ID != sales.ID || pub.Name != "published" {
			t.Errorf("published %+v", pub)
		}
		want(t, dev, "PUT", "/publish", 200)
	})

	t.Run("replace", func(t *testing.T) {
		other := appNamed(t, c, "Sales Dashboard")
		target := fresh(t, "to replace")
		if content(t, dev, target.ID) == content(t, dev, other.ID) {
			t.Fatal("the apps hold the same content already")
		}
		fail(dev, "PUT", "/qrs/app/*/replace")
		if _, err := c.ReplaceApp(ctx, other.ID, target.ID); err != nil {
			t.Fatal(err)
		}
		if content(t, dev, target.ID) != content(t, dev, other.ID) {
			t.Error("the target does not hold the source's content")
		}
		want(t, dev, "PUT", "/replace", 200)
	})

	t.Run("delete", func(t *testing.T) {
		a := fresh(t, "to delete")
		fail(dev, "DELETE", "/qrs/app/"+a.ID)
		if err := c.DeleteApp(ctx, a.ID); err != nil {
			t.Fatal(err)
		}
		if _, ok := dev.App(a.ID); ok {
			t.Error("the app is still there")
		}
		// After the work, the repeat answers 404: done.
		exp := map[bool][]int{false: {500, 204}, true: {500, 404}}[after]
		if got := statuses(dev, "DELETE", a.ID); !slices.Equal(got, exp) {
			t.Errorf("deletes answered %v, want %v", got, exp)
		}
	})

	t.Run("update", func(t *testing.T) {
		a := fresh(t, "to update")
		fail(dev, "PUT", "/qrs/app/"+a.ID)
		got, err := c.UpdateApp(ctx, a.ID, func(app *qrs.App) error { app.Description = "approved"; return nil })
		if err != nil {
			t.Fatal(err)
		}
		if now, _ := dev.App(a.ID); now.Description != "approved" || got.Description != "approved" {
			t.Errorf("description %q, returned %q", now.Description, got.Description)
		}
		want(t, dev, "PUT", a.ID, 200)
	})

	t.Run("tag", func(t *testing.T) {
		fail(dev, "POST", "/qrs/tag")
		tag, err := c.CreateTag(ctx, "Approved")
		if err != nil {
			t.Fatal(err)
		}
		tags, _ := c.Tags(ctx, qrs.Eq("name", "Approved"))
		if len(tags) != 1 || tags[0].ID != tag.ID {
			t.Errorf("tags %+v, returned %+v", tags, tag)
		}
		want(t, dev, "POST", "/qrs/tag", 201)
	})

	t.Run("custom property definition", func(t *testing.T) {
		fail(dev, "POST", "/qrs/custompropertydefinition")
		def, err := c.CreateCustomPropertyDefinition(ctx, qrs.CustomPropertyDefinition{Name: "PromotedFrom", ObjectTypes: []string{"App"}})
		if err != nil {
			t.Fatal(err)
		}
		defs, _ := c.CustomPropertyDefinitions(ctx, qrs.Eq("name", "PromotedFrom"))
		if len(defs) != 1 || defs[0].ID != def.ID {
			t.Errorf("definitions %+v, returned %+v", defs, def)
		}
		want(t, dev, "POST", "/qrs/custompropertydefinition", 201)
	})

	t.Run("subscribe", func(t *testing.T) {
		// QRS lists no subscriptions: a subscription made by an attempt
		// whose answer was lost cannot be found, so the call is not
		// repeated (the caller renews later); after the work, one is left
		// that nobody can delete until QRS restarts.
		fail(dev, "POST", "/qrs/notification")
		_, err := c.Subscribe(ctx, qrs.Subscription{Name: "App", ChangeType: qrs.ChangeUpdate, URL: "http://127.0.0.1:1/cb"})
		if statusOf(err) != 500 || !qrs.IsRetryable(err) {
			t.Errorf("subscribe: %v, want the 500", err)
		}
		if got := statuses(dev, "POST", "/qrs/notification"); len(got) != 1 {
			t.Errorf("subscriptions answered %v, want one attempt", got)
		}
		want := map[bool]int{false: 0, true: 1}[after]
		if n := len(dev.Subscriptions()); n != want {
			t.Errorf("%d subscriptions, want %d", n, want)
		}
		dev.Restart() // drop it
	})

	t.Run("unsubscribe", func(t *testing.T) {
		dev.SetFaults(qrssim.Faults{})
		h, err := c.Subscribe(ctx, qrs.Subscription{Name: "App", URL: "http://127.0.0.1:1/cb"})
		if err != nil {
			t.Fatal(err)
		}
		fail(dev, "DELETE", "/qrs/notification")
		if err := c.Unsubscribe(ctx, h); err != nil {
			t.Fatal(err)
		}
		if n := len(dev.Subscriptions()); n != 0 {
			t.Errorf("%d subscriptions left", n)
		}
	})

	t.Run("reload", func(t *testing.T) {
		// A reload starts a task: whether one started cannot be told, so a
		// failed request is not repeated.
		fail(dev, "POST", "/qrs/app/"+src.ID+"/reload")
		if err := c.ReloadApp(ctx, src.ID); statusOf(err) != 500 {
			t.Errorf("reload: %v, want the 500", err)
		}
		if got := statuses(dev, "POST", "/reload"); len(got) != 1 {
			t.Errorf("reloads answered %v, want one", got)
		}
	})
}

// A write that never reached the server (the port is closed while QRS
// restarts) is repeated without checking: it cannot have taken effect.
func TestWriteRepeatedWhenNeverSent(t *testing.T) {
	sim := startSim(t)
	dev := sim.Site("dev")
	c := simClient(t, dev, func(cfg *qrs.SiteConfig) { cfg.RetryBackoff = 100 * time.Millisecond })
	dev.RestartFor(300 * time.Millisecond)
	h, err := c.Subscribe(context.Background(), qrs.Subscription{Name: "App", URL: "http://127.0.0.1:1/cb"})
	if err != nil {
		t.Fatalf("subscribe across a restart: %v", err)
	}
	if subs := dev.Subscriptions(); len(subs) != 1 || subs[0].Handle != h {
		t.Errorf("subscriptions %+v, want the one made", subs)
	}
}

func TestTransientOrPermanent(t *testing.T) {
	for _, tc := range []struct {
		method string
		status int
		want   bool
	}{
		{"GET", 500, true}, {"POST", 500, true}, {"GET", 502, true}, {"GET", 503, true}, {"GET", 504, true},
		{"GET", 429, true}, {"GET", 408, true}, {"PUT", 409, true},
		{"POST", 409, false}, {"GET", 400, false}, {"GET", 401, false}, {"GET", 403, false}, {"GET", 404, false},
		{"GET", 501, false}, {"GET", 505, false},
	} {
		e := &qrs.Error{Method: tc.method, Status: tc.status}
		if e.Transient() != tc.want || qrs.IsRetryable(e) != tc.want {
			t.Errorf("%s %d: transient %v, want %v", tc.method, tc.status, e.Transient(), tc.want)
		}
	}
	if qrs.IsRetryable(context.Canceled) || qrs.IsRetryable(&qrs.Error{Err: context.Canceled}) {
		t.Error("a cancelled call is transient")
	}
}

// 429 and 503 carry Retry-After: the client waits that long when its budget
// allows, and gives up at once (the error saying how long) when it does not.
func TestRetryAfterWithinTheBudget(t *testing.T) {
	sim := startSim(t)
	dev := sim.Site("dev")
	ctx := context.Background()
	dev.SetFaults(qrssim.Faults{ErrorStatus: 429, ErrorCount: 1, RetryAfter: time.Second, ErrorPaths: []string{"/qrs/about"}})
	c := simClient(t, dev, nil)
	start := time.Now()
	if _, err := c.About(ctx); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < time.Second {
		t.Errorf("retried after %s, before the Retry-After of 1s", d)
	}

	dev.SetFaults(qrssim.Faults{ErrorStatus: 503, ErrorCount: 1, RetryAfter: 5 * time.Second, ErrorPaths: []string{"/qrs/about"}})
	short := simClient(t, dev, func(cfg *qrs.SiteConfig) { cfg.RetryBudget = time.Second })
	start = time.Now()
	_, err := short.About(ctx)
	var e *qrs.Error
	if !errors.As(err, &e) || e.Status != 503 || e.RetryAfter() != 5*time.Second {
		t.Fatalf("error %v, want the 503 asking for 5s", err)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("gave up after %s: waited for a Retry-After beyond the budget", d)
	}
}

// The budget bounds a call failing over and over, whatever MaxAttempts says.
func TestRetryBudgetBoundsACall(t *testing.T) {
	sim := startSim(t)
	dev := sim.Site("dev")
	dev.SetFaults(qrssim.Faults{ErrorStatus: 500, ErrorPaths: []string{"/qrs/about"}})
	c := simClient(t, dev, func(cfg *qrs.SiteConfig) {
		cfg.MaxAttempts, cfg.RetryBackoff, cfg.RetryBudget = 100, 50*time.Millisecond, 400*time.Millisecond
	})
	start := time.Now()
	if _, err := c.About(context.Background()); statusOf(err) != 500 {
		t.Fatalf("error %v", err)
	}
	if d := time.Since(start); d > 900*time.Millisecond {
		t.Errorf("a 400ms budget took %s", d)
	}
	n := len(statuses(dev, "GET", "/qrs/about"))
	if n < 3 || n > 10 {
		t.Errorf("%d attempts within 400ms of 50ms doubling backoff", n)
	}
	// One attempt when the caller says so (a health probe).
	dev.ResetRequests()
	if _, err := c.About(qrs.WithRetryBudget(context.Background(), 0)); statusOf(err) != 500 {
		t.Fatalf("error %v", err)
	}
	if n := len(statuses(dev, "GET", "/qrs/about")); n != 1 {
		t.Errorf("%d attempts with no budget, want 1", n)
	}
}
