package actions

import (
	"context"
	"fmt"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/qs-promoter/qs-promoter/engine"
	"github.com/qs-promoter/qs-promoter/qrs/qrssim"
)

// BenchmarkPromote2GiB promotes a 2 GiB app to 2 sites × 2 streams on the
// simulator (in this process: its memory counts too) and reports the peak
// heap and the bytes uploaded per byte of app: 2 when each site gets one
// upload and copies it server-side for its second stream.
//
//	go test -run '^$' -bench Promote2GiB -benchtime 1x ./actions
func BenchmarkPromote2GiB(b *testing.B) {
	const size = 2 << 30
	sim, d := testSites(b, "dev", "test", "prod")
	dev := sim.Site("dev")
	app, err := dev.AddApp(qrssim.AppSeed{Name: "Big App", Owner: `CORP\sales_rep`, Stream: "Sales", Size: size})
	if err != nil {
		b.Fatal(err)
	}
	a := &promote{d: d}
	targets := []engine.Target{{Site: "test", Mode: "overwrite"}, {Site: "prod", Mode: "overwrite"}}

	peak := sampleHeap()
	var uploaded int64
	i := 0
	for b.Loop() {
		in := stepIn(b, a, engine.Params{"targets": targets, "streams": []string{"Sales", "Everyone"}})
		in.ExecutionID = fmt.Sprintf("bench-%d", i)
		in.Facts = simFacts(b, dev, app)
		before := sim.Site("test").ContentBytesReceived() + sim.Site("prod").ContentBytesReceived()
		if _, err := a.Run(context.Background(), in); err != nil {
			b.Fatal(err)
		}
		uploaded += sim.Site("test").ContentBytesReceived() + sim.Site("prod").ContentBytesReceived() - before
		i++
	}
	b.StopTimer()
	b.ReportMetric(float64(peak())/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(uploaded)/float64(size*int64(i)), "upload-bytes/app-size")
	b.SetBytes(size)
}

// sampleHeap samples the live heap every few milliseconds until the
// returned function is called, which gives the peak.
func sampleHeap() func() uint64 {
	runtime.GC()
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	var mu sync.Mutex
	var max uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			mu.Lock()
			max = maxU(max, s[0].Value.Uint64())
			mu.Unlock()
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 {
		close(stop)
		<-done
		mu.Lock()
		defer mu.Unlock()
		return max
	}
}

func maxU(a, b uint64) uint64 {
	if a > b {
		return a
	}
	return b
}
