package daemon

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/qs-promoter/qs-promoter/store"
)

// BenchmarkIntake measures accepted notifications per second: callbacks
// POSTed on loopback by concurrent clients, each answered 202 only after
// its notification is committed to disk (SQLite WAL, synchronous=FULL; or
// PostgreSQL on loopback, with its default fsync and synchronous_commit).
// One notification per callback, spread over 100 apps; the daemon runs
// with no watched-site traffic besides. Run:
//
//	go test -run XXX -bench Intake -benchtime 5000x ./daemon
func BenchmarkIntake(b *testing.B) {
	b.Run(store.DriverSQLite, func(b *testing.B) { benchmarkIntake(b, newHarness(b)) })
	b.Run(store.DriverPostgres, func(b *testing.B) {
		h := newHarness(b)
		h.onPostgres()
		benchmarkIntake(b, h)
	})
}

func benchmarkIntake(b *testing.B, h *harness) {
	cfg, err := LoadConfig(h.writeConfig())
	if err != nil {
		b.Fatal(err)
	}
	// No policies match these made-up apps, and evaluation is not what is
	// measured: one worker keeps executions from competing for the CPU.
	cfg.Workers = 1
	d, err := New(cfg, WithLogger(discardLogger()), withStore(h.storeOpts))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() { cancel(); <-done }()
	url := fmt.Sprintf("http://127.0.0.1:%d/callback/dev/%s", h.port, d.sites["dev"].token)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var ids []string
	for i := range 100 {
		ids = append(ids, fmt.Sprintf("00000000-0000-4000-8000-%012d", i))
	}
	b.SetParallelism(16)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			body := `[{"changeType":2,"objectType":"App","objectID":"` + ids[i%len(ids)] + `","changedProperties":["modifiedDate","description"]}]`
			i++
			resp, err := client.Post(url, "application/json", strings.NewReader(body))
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusAccepted {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "notifications/s")
}
