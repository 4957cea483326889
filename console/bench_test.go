package console

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qs-promoter/qs-promoter/daemon"
	"github.com/qs-promoter/qs-promoter/store"
	"github.com/qs-promoter/qs-promoter/store/storetest"
)

// BenchmarkPages renders every page, with its common filters, on a store
// holding 100,000 executions and 1,000,000 audit records (seeded in bulk
// by the database itself), on SQLite and on PostgreSQL. Every list is
// filtered and paged in the database, so a page costs about the same
// however large the store is. BenchmarkAuditDownload streams all
// 1,000,000 records as CSV and reports the heap it needed.
//
//	go test ./console/ -run '^$' -bench 'Pages|AuditDownload' -benchtime 20x
//
// (QSP_BENCH_EXECUTIONS and QSP_BENCH_AUDIT shrink the store for a quick run.)
func BenchmarkPages(b *testing.B) {
	for _, driver := range []string{store.DriverSQLite, store.DriverPostgres} {
		b.Run(driver, func(b *testing.B) {
			tc, cookie := benchConsole(b, driver)
			for _, p := range benchPages(envInt("QSP_BENCH_EXECUTIONS", 100_000), envInt("QSP_BENCH_AUDIT", 1_000_000)) {
				b.Run(p.name, func(b *testing.B) {
					b.ReportAllocs()
					for b.Loop() {
						w := serve(tc, cookie, p.path)
						if w.Code != http.StatusOK {
							b.Fatalf("%s: %d %s", p.path, w.Code, w.Body.String())
						}
					}
				})
			}
		})
	}
}

// benchPages are the pages measured, on a store seeded by bulkSeed.
func benchPages(executions, audits int) []struct{ name, path string } {
	return []struct{ name, path string }{
		{"overview", "/"},
		{"running", "/overview/running"},
		{"approvals", "/approvals"},
		{"executions", "/executions"},
		{"executions-middle", fmt.Sprintf("/executions?after=x%09d", executions/2)},
		{"executions-app", "/executions?app=" + url.QueryEscape("Sales app 04321")},
		{"executions-failed", "/executions?state=failed"},
		{"executions-policy-site", "/executions?policy=promote-approved&site=dev"},
		{"execution", fmt.Sprintf("/executions/x%09d", executions-10)},
		{"policies", "/policies"},
		{"dry-run", "/dry-run"},
		{"audit", "/audit"},
		{"audit-middle", fmt.Sprintf("/audit?after=%d", audits/2)},
		{"audit-user", "/audit?user=" + url.QueryEscape(`CORP\u042`)},
		{"audit-policy", "/audit?policy=alert-on-publish"},
		{"audit-app", "/audit?app=" + url.QueryEscape("Sales app 04321")},
		{"audit-type-day", "/audit?type=decision&since=2026-11-20&until=2026-11-20"},
		{"settings", "/settings"},
		{"status", "/status"},
	}
}

// BenchmarkAuditDownload streams every audit record as CSV, and reports
// the largest heap seen while it ran beside the heap before it: memory
// stays flat however many records there are.
func BenchmarkAuditDownload(b *testing.B) {
	tc, cookie := benchConsole(b, store.DriverSQLite)
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var m runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
				runtime.ReadMemStats(&m)
				if m.HeapInuse > peak.Load() {
					peak.Store(m.HeapInuse)
				}
			}
		}
	})
	var bytes int64
	for b.Loop() {
		req := httptest.NewRequest("GET", "/audit.csv", nil)
		req.AddCookie(cookie)
		w := &countingWriter{h: http.Header{}}
		tc.c.ServeHTTP(w, req)
		if w.code != 0 && w.code != http.StatusOK {
			b.Fatalf("download: %d", w.code)
		}
		bytes = w.n
	}
	close(stop)
	wg.Wait()
	b.ReportMetric(float64(bytes)/(1<<20), "MiB/download")
	b.ReportMetric(float64(before.HeapInuse)/(1<<20), "MiB-heap-before")
	b.ReportMetric(float64(peak.Load())/(1<<20), "MiB-heap-peak")
}

// countingWriter is a ResponseWriter that counts and discards.
type countingWriter struct {
	h    http.Header
	code int
	n    int64
}

func (w *countingWriter) Header() http.Header { return w.h }
func (w *countingWriter) WriteHeader(c int)   { w.code = c }
func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return len(p), nil
}

var _ io.Writer = (*countingWriter)(nil)

func serve(tc *testConsole, cookie *http.Cookie, path string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("GET", path, nil)
	req.AddCookie(cookie)
	w := httptest.NewRecorder()
	tc.c.ServeHTTP(w, req)
	return w
}

// benchConsole is a console on a store seeded with the benchmark's rows,
// and a session cookie of an operator.
func benchConsole(b *testing.B, driver string) (*testConsole, *http.Cookie) {
	b.Helper()
	executions, audits := envInt("QSP_BENCH_EXECUTIONS", 100_000), envInt("QSP_BENCH_AUDIT", 1_000_000)
	var dbURL, schema string
	if driver == store.DriverPostgres {
		dbURL, schema = storetest.Postgres(b)
	}
	fb := newFakeOn(b, func(cfg *daemon.Config) store.Options {
		return store.Options{Driver: driver, Dir: cfg.StateDir, URL: dbURL, Schema: schema}
	})
	start := time.Now()
	end := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	if driver == store.DriverPostgres {
		bulkSeed(b, postgresDB(b, dbURL, schema), driver, executions, audits, end)
	} else {
		bulkSeed(b, sqliteDB(b, fb.cfg.StateDir), driver, executions, audits, end)
	}
	b.Logf("%s: seeded %d executions and %d audit records in %s", driver, executions, audits, time.Since(start).Round(time.Millisecond))
	tc := newTestConsole(b, fb)
	tc.now = end
	w := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/login", nil)
	req.PostForm = url.Values{"username": {"ann"}, "password": {annPass}}
	req.Form = req.PostForm
	tc.c.ServeHTTP(w, req)
	cookies := w.Result().Cookies()
	if len(cookies) == 0 {
		b.Fatalf("login: %d %s", w.Code, w.Body.String())
	}
	return tc, cookies[0]
}

func envInt(name string, def int) int {
	var n int
	if _, err := fmt.Sscan(getenv(name), &n); err != nil || n <= 0 {
		return def
	}
	return n
}

func getenv(name string) string { return os.Getenv(name) }
