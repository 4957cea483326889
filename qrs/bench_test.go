package qrs_test

import (
	"context"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/qs-promoter/qs-promoter/qrs"
	"github.com/qs-promoter/qs-promoter/qrs/qrssim"
)

// BenchmarkExportUpload1GiB streams a 1 GiB app from one simulated site into
// an upload on another, as a promotion does, and reports the peak heap of the
// whole process (client and both simulated sites) sampled every 2 ms.
func BenchmarkExportUpload1GiB(b *testing.B) {
	const size = 1 << 30
	sim, err := qrssim.Start(qrssim.Options{Sites: []qrssim.SiteOptions{
		{Alias: "src", Seed: &qrssim.Seed{
			Users: []qrssim.UserSeed{{UserID: "owner", Directory: "CORP"}},
			Apps:  []qrssim.AppSeed{{Name: "Big", Owner: `CORP\owner`, Size: size}},
		}},
		{Alias: "dst"},
	}})
	if err != nil {
		b.Fatal(err)
	}
	defer sim.Close()
	src, dst := sim.Site("src"), sim.Site("dst")
	sc, dc := simClient(b, src, nil), simClient(b, dst, nil)
	ctx := context.Background()
	apps, err := sc.Apps(ctx, qrs.Eq("name", "Big"))
	if err != nil || len(apps) != 1 {
		b.Fatalf("apps %v %v", apps, err)
	}
	id := apps[0].ID
	want, _ := src.Content(id)

	runtime.GC()
	peak := newHeapSampler(2 * time.Millisecond)
	b.SetBytes(size)
	b.ResetTimer()
	for range b.N {
		d, err := sc.ExportApp(ctx, id, false)
		if err != nil {
			b.Fatal(err)
		}
		up, err := dc.UploadApp(ctx, "Big", true, d, d.Size)
		d.Close()
		if err != nil {
			b.Fatal(err)
		}
		if got, _ := dst.Content(up.ID); got != want {
			b.Fatalf("uploaded %+v, want %+v", got, want)
		}
	}
	b.StopTimer()
	peakMiB := float64(peak.stop()) / (1 << 20)
	b.ReportMetric(peakMiB, "peak-heap-MiB")
	if peakMiB >= 64 {
		b.Errorf("peak heap %.1f MiB: content is being buffered (the bound is 64 MiB)", peakMiB)
	}
}

// heapSampler records the largest live heap seen while it runs.
type heapSampler struct {
	done chan struct{}
	wg   sync.WaitGroup
	peak uint64
}

func newHeapSampler(every time.Duration) *heapSampler {
	h := &heapSampler{done: make(chan struct{})}
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			metrics.Read(sample)
			h.peak = max(h.peak, sample[0].Value.Uint64())
			select {
			case <-h.done:
				return
			case <-t.C:
			}
		}
	}()
	return h
}

func (h *heapSampler) stop() uint64 {
	close(h.done)
	h.wg.Wait()
	return h.peak
}
