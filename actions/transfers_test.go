package actions

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qs-promoter/qs-promoter/engine"
	"github.com/qs-promoter/qs-promoter/qrs"
	"github.com/qs-promoter/qs-promoter/qrs/qrssim"
)

// Upload slots are handed out in arrival order, each site on its own: a
// site with every slot busy does not hold up another.
func TestTransferSlotsAreFairAndPerSite(t *testing.T) {
	tr := NewTransfers(TransferLimits{MaxTransfers: map[string]int{"test": 1, "prod": 2}})
	ctx := context.Background()
	hold, err := tr.upload(ctx, "TEST", nil) // aliases match case-insensitively
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var order []int
	var wg sync.WaitGroup
	for i := range 5 {
		queued := make(chan struct{})
		wg.Go(func() {
			release, err := tr.upload(ctx, "test", func(ahead int) {
				if ahead != i {
					t.Errorf("waiter %d: %d ahead", i, ahead)
				}
				close(queued)
			})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
			release()
		})
		<-queued // the next one arrives after this one queued
	}
	// test is full; prod's two slots are free at once.
	for range 2 {
		release, err := tr.upload(ctx, "prod", func(int) { t.Error("prod waits for test's slot") })
		if err != nil {
			t.Fatal(err)
		}
		defer release()
	}
	hold()
	wg.Wait()
	if fmt.Sprint(order) != "[0 1 2 3 4]" {
		t.Fatalf("served in the order %v, want arrival order", order)
	}
	// An unknown site and a nil Transfers have no limit.
	for _, tr := range []*Transfers{tr, nil} {
		release, err := tr.upload(ctx, "elsewhere", func(int) { t.Error("waited") })
		if err != nil {
			t.Fatal(err)
		}
		release()
	}
}

// A waiter that gives up leaves the queue; the slot goes to the next.
func TestTransferSlotWaitEndsWithContext(t *testing.T) {
	tr := NewTransfers(TransferLimits{MaxTransfers: map[string]int{"prod": 1}})
	hold, _ := tr.export(context.Background(), "prod", nil)
	ctx, cancel := context.WithCancel(context.Background())
	gaveUp := make(chan error)
	queued := make(chan struct{})
	go func() {
		_, err := tr.export(ctx, "prod", func(int) { close(queued) })
		gaveUp <- err
	}()
	<-queued
	got := make(chan struct{})
	go func() {
		release, err := tr.export(context.Background(), "prod", nil)
		if err == nil {
			release()
		}
		close(got)
	}()
	cancel()
	if err := <-gaveUp; err != context.Canceled {
		t.Fatalf("err %v", err)
	}
	hold()
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("the slot was not passed on past the waiter that gave up")
	}
}

// fakeDisk is a disk whose free space the test sets; spools written to it
// take from it.
type fakeDisk struct{ free atomic.Int64 }

func (d *fakeDisk) space(string) (int64, error) { return d.free.Load(), nil }

// Spools fit the budget: while the disk would fall under min_free (or
// max is reached), a promotion waits, and the waiters are admitted in
// arrival order as spools go; one that could never fit fails at once.
func TestSpoolBudget(t *testing.T) {
	const MiB = 1 << 20
	disk := &fakeDisk{}
	disk.free.Store(100 * MiB)
	tr := NewTransfers(TransferLimits{SpoolDir: "state", SpoolMinFree: 20 * MiB, SpoolMax: 70 * MiB, FreeSpace: disk.space})
	tr.spool.recheck = 10 * time.Millisecond
	ctx := context.Background()

	if _, err := tr.reserveSpool(ctx, 90*MiB, nil); err == nil || !strings.Contains(err.Error(), "does not fit") {
		t.Fatalf("an export over the budget alone: %v", err)
	}
	a, err := tr.reserveSpool(ctx, 40*MiB, func(string) { t.Error("the first spool waited") })
	if err != nil {
		t.Fatal(err)
	}
	// a is written: the disk has 40 MiB less.
	a.wrote(40 * MiB)
	disk.free.Add(-40 * MiB)

	// 40 more would pass max (80 > 70): b waits; c, small enough to fit, waits behind it.
	var order []string
	var mu sync.Mutex
	var wg sync.WaitGroup
	admitted := func(name string, size int64) {
		queued := make(chan struct{})
		wg.Go(func() {
			r, err := tr.reserveSpool(ctx, size, func(why string) {
				if name == "b" && !strings.Contains(why, "spool.max_mb") {
					t.Errorf("b waits because %q", why)
				}
				close(queued)
			})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			order = append(order, name)
			mu.Unlock()
			time.Sleep(20 * time.Millisecond)
			r.release()
		})
		<-queued
	}
	admitted("b", 40*MiB)
	admitted("c", 5*MiB)
	time.Sleep(50 * time.Millisecond)
	mu.Lock()
	// c alone would fit (45 MiB ≤ 70, 55 MiB free): it waits behind b.
	if len(order) != 0 {
		t.Fatalf("admitted %v while b waits for room", order)
	}
	mu.Unlock()
	a.release()
	disk.free.Add(40 * MiB)
	wg.Wait()
	if len(order) != 2 {
		t.Fatalf("admitted %v, want b and c", order)
	}
	if now, peak := tr.SpoolHeld(); now != 0 || peak > 70*MiB {
		t.Fatalf("held %d now, peak %d (max 70 MiB)", now, peak)
	}

	// The free space alone: another program fills the disk; a spool waits
	// until it frees room again (a recheck notices).
	first, _ := tr.reserveSpool(ctx, 10*MiB, nil)
	disk.free.Store(25 * MiB) // 25 - 10 promised - 10 wanted < 20 min free
	done := make(chan error)
	go func() {
		r, err := tr.reserveSpool(ctx, 10*MiB, nil)
		r.release()
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("admitted with too little free space (%v)", err)
	case <-time.After(50 * time.Millisecond):
	}
	disk.free.Store(100 * MiB)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	first.release()

	// An estimate too high is corrected once the size is known; one too low
	// is booked as the spool grows.
	r, _ := tr.reserveSpool(ctx, 50*MiB, nil)
	r.fix(10 * MiB)
	if now, _ := tr.SpoolHeld(); now != 10*MiB {
		t.Fatalf("after fix: %d held", now)
	}
	r.wrote(12 * MiB)
	if now, _ := tr.SpoolHeld(); now != 12*MiB {
		t.Fatalf("after writing past the estimate: %d held", now)
	}
	r.release()
	r.release() // twice is harmless
	if now, _ := tr.SpoolHeld(); now != 0 {
		t.Fatalf("after release: %d held", now)
	}
}

// Promotions at once share the spool budget: with room for one export,
// they spool one after another (the others wait, saying why), and all
// complete.
func TestPromotionsWaitForSpoolRoom(t *testing.T) {
	const size = 1 << 20
	sim, d := testSites(t, "dev", "test")
	dev := sim.Site("dev")
	d.Transfers = NewTransfers(TransferLimits{MaxTransfers: map[string]int{"dev": 2, "test": 2}, SpoolDir: d.TempDir,
		SpoolMax: size + size/2, FreeSpace: func(string) (int64, error) { return 1 << 40, nil }})
	a := &promote{d: d}
	var wg sync.WaitGroup
	var waited atomic.Int32
	for i := range 3 {
		app, err := dev.AddApp(qrssim.AppSeed{Name: fmt.Sprintf("Spooled %d", i), Owner: `CORP\sales_rep`, Stream: "Sales", Size: size})
		if err != nil {
			t.Fatal(err)
		}
		in := stepIn(t, a, engine.Params{"targets": []engine.Target{{Site: "test", Mode: "overwrite"}}, "streams": []string{"Everyone"}})
		in.ExecutionID = fmt.Sprintf("exec-%d", i)
		in.Facts = simFacts(t, dev, app)
		in.Progress = func(format string, args ...any) {
			if strings.Contains(fmt.Sprintf(format, args...), "waiting for disk room") {
				waited.Add(1)
			}
		}
		wg.Go(func() {
			if _, err := a.Run(context.Background(), in); err != nil {
				t.Errorf("%s: %v", app.Name, err)
			}
		})
	}
	wg.Wait()
	for i := range 3 {
		if n := len(simApps(sim.Site("test"), fmt.Sprintf("Spooled %d", i))); n != 1 {
			t.Errorf("test holds %d copies of Spooled %d", n, i)
		}
	}
	now, peak := d.Transfers.SpoolHeld()
	if now != 0 || peak > size+size/2 {
		t.Fatalf("spools held %d at the end, %d at most (budget %d)", now, peak, size+size/2)
	}
	if waited.Load() == 0 {
		t.Error("no promotion said it waited for disk room")
	}
}

func simApps(s *qrssim.Site, name string) []qrs.App {
	var out []qrs.App
	for _, a := range s.Apps() {
		if a.Name == name {
			out = append(out, a)
		}
	}
	return out
}
