package store

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// Evaluations that QRS notifications asked for run ahead of those catch-up
// queued, and a notification joining an app that catch-up queued moves it
// ahead too: an approval made now is not queued behind a catch-up burst.
func TestLiveNotificationsRunFirst(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		ctx := context.Background()
		var mu sync.Mutex
		var order []string
		done := make(chan struct{}, 20)
		o := db.options(func(ctx context.Context, job Job) error {
			mu.Lock()
			order = append(order, job.AppID)
			mu.Unlock()
			done <- struct{}{}
			return nil
		})
		o.Workers = 1
		s := db.openWith(t, o)
		defer s.Close()
		var burst []Notification
		for i := range 10 {
			burst = append(burst, Notification{Site: "dev", AppID: fmt.Sprintf("reconciled-%d", i), Kind: "reconciled"})
		}
		if _, err := s.Record(ctx, burst); err != nil {
			t.Fatal(err)
		}
		// The live one, and a notification joining reconciled-7 (recorded
		// apart, so that it joins a job already stored).
		for _, n := range []Notification{{Site: "dev", AppID: "live", Change: change("live")}, {Site: "dev", AppID: "reconciled-7", Change: change("reconciled-7")}} {
			rec, err := s.Record(ctx, []Notification{n})
			if err != nil {
				t.Fatal(err)
			}
			if n.AppID == "reconciled-7" && rec.Coalesced != 1 {
				t.Fatalf("the notification did not join the waiting evaluation: %+v", rec)
			}
		}
		// One batch: a reconciled app and a live notification for it.
		if _, err := s.Record(ctx, []Notification{{Site: "dev", AppID: "both", Kind: "reconciled"}, {Site: "dev", AppID: "both", Change: change("both")}}); err != nil {
			t.Fatal(err)
		}
		if err := s.Start(ctx); err != nil {
			t.Fatal(err)
		}
		defer s.Drain(ctx)
		for range 12 {
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				t.Fatalf("only %v ran", order)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		first := append([]string(nil), order[:3]...)
		slices.Sort(first)
		if !slices.Equal(first, []string{"both", "live", "reconciled-7"}) {
			t.Fatalf("ran in the order %v; the three with a live notification first", order)
		}
	})
}
