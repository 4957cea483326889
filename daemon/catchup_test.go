package daemon

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/qs-promoter/qs-promoter/qrs/qrssim"
)

// Catch-up reads the app list as it arrives, in one list call per run, and
// records what it finds in batches: more changed apps than one batch are
// all queued, each once.
func TestCatchUpStreamsTheList(t *testing.T) {
	h := newHarness(t)
	h.start()
	waitFor(t, 10*time.Second, "the first catch-up mark", func() bool {
		m, _ := h.d.store.CatchupMark(context.Background(), "dev")
		return m != ""
	})
	const changed = catchupBatch + 44
	for i := range changed {
		if _, err := h.dev.AddApp(qrssim.AppSeed{Name: fmt.Sprintf("Bulk %03d", i), Owner: `CORP\sales_rep`}); err != nil {
			t.Fatal(err)
		}
	}
	h.dev.ResetRequests()
	n, err := h.d.catchUp(context.Background(), h.d.sites["dev"])
	if err != nil || n != changed {
		t.Fatalf("catch-up queued %d (%v), want %d", n, err, changed)
	}
	if lists := appLists(h.dev); lists != 1 {
		t.Errorf("catch-up listed apps %d times, want 1", lists)
	}
	h.dev.ResetRequests()
	if n, err := h.d.catchUp(context.Background(), h.d.sites["dev"]); err != nil || n != 0 {
		t.Fatalf("an idle catch-up queued %d (%v), want 0", n, err)
	}
	if lists := appLists(h.dev); lists != 1 {
		t.Errorf("an idle catch-up listed apps %d times, want 1", lists)
	}
}

// appLists counts the app list calls in a site's request log.
func appLists(s *qrssim.Site) int {
	n := 0
	for _, r := range s.Requests() {
		if r.Method == "GET" && r.Path == "/qrs/app/full" {
			n++
		}
	}
	return n
}

// A watched site without a single app at the first catch-up still gets a
// mark: an app made there while the daemon is down is caught up, not
// taken for the site's history at the next first catch-up.
func TestFirstCatchUpOfAnEmptySite(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	for _, a := range h.dev.Apps() {
		if err := h.human.DeleteApp(ctx, a.ID); err != nil {
			t.Fatal(err)
		}
	}
	h.start()
	waitFor(t, 10*time.Second, "the first catch-up mark", func() bool {
		m, _ := h.d.store.CatchupMark(ctx, "dev")
		return m != ""
	})
	if _, err := h.dev.AddApp(qrssim.AppSeed{Name: "First app", Owner: `CORP\sales_rep`}); err != nil {
		t.Fatal(err)
	}
	if n, err := h.d.catchUp(ctx, h.d.sites["dev"]); err != nil || n != 1 {
		t.Fatalf("catch-up after the first app queued %d (%v), want 1", n, err)
	}
}
