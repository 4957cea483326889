package qrssim

import (
	"io"
	"net/http"
	"runtime"
	"runtime/metrics"
	"sync/atomic"
	"testing"
	"time"
)

// peakHeap samples the live heap until stop is called and returns the peak.
func peakHeap() (stop func() uint64) {
	var peak atomic.Uint64
	done := make(chan struct{})
	finished := make(chan struct{})
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	go func() {
		defer close(finished)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			if v := sample[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		<-finished
		return peak.Load()
	}
}

// BenchmarkExportUpload streams a 1 GiB app from one site to another
// (export download piped into a chunked upload) and reports the peak heap
// of the whole process (both simulated sites and the client).
//
//	go test -run '^$' -bench ExportUpload -benchtime 1x ./qrs/qrssim
func BenchmarkExportUpload(b *testing.B) {
	const size = 1 << 30
	sim := startSim(b, SiteOptions{Alias: "dev"}, SiteOptions{Alias: "test"})
	dev, test := sim.Site("dev"), sim.Site("test")
	if err := dev.Load(&Seed{Users: []UserSeed{{UserID: "u", Directory: "D"}}}); err != nil {
		b.Fatal(err)
	}
	big, err := dev.AddApp(AppSeed{Name: "Big", Owner: `D\u`, Size: size})
	if err != nil {
		b.Fatal(err)
	}
	cd, ct := newRaw(b, dev), newRaw(b, test)
	runtime.GC()
	b.SetBytes(size)
	b.ResetTimer()
	stop := peakHeap()
	for range b.N {
		var exp map[string]any
		cd.ok(201, "POST", "/qrs/app/"+big.ID+"/export/"+newID(), nil, nil, &exp)
		req, _ := http.NewRequest("GET", dev.URL()+exp["downloadPath"].(string), nil)
		req.Header.Set("X-Qlik-Xrfkey", testKey)
		req.Header.Set("X-Qlik-User", cd.user)
		resp, err := cd.hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		var up appJSON
		ct.ok(201, "POST", "/qrs/app/upload", q("name", "Big", "keepdata", "true"), io.Reader(resp.Body), &up)
		resp.Body.Close()
		if must(test.Content(up.str("id"))) != must(dev.Content(big.ID)) {
			b.Fatal("the content did not arrive intact")
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(stop())/(1<<20), "peak-heap-MiB")
}
