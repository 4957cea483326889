package daemon

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/qs-promoter/qs-promoter/qrs/qrssim"
)

// These benchmarks run `qs-promoter serve` as a process of its own, built
// from this tree, against simulated sites served by the benchmark process:
// the memory reported is the daemon's alone (its peak resident set,
// VmHWM, and its peak heap from the runtime's GC trace), not the
// simulator's. QSP_BENCH_SERVE=/path/to/qs-promoter runs another build.
// They take minutes: run them one at a time, e.g.
//
//	go test -run '^$' -bench 'CatchUp' -benchtime 1x -timeout 30m ./daemon/
//	go test -run '^$' -bench 'ReleaseDay' -benchtime 1x -timeout 30m ./daemon/

// BenchmarkCatchUp starts the daemon on a watched site of 10,000 and of
// 50,000 apps: the first catch-up lists them all to learn where to start
// from, later ones (every 2s here) list only what changed. It reports the
// daemon's peak RSS and heap (the target: RSS ≤ 64 MB at both sizes), the
// first catch-up's time, and the app-list calls per idle catch-up cycle
// (the target: ≤ 2).
func BenchmarkCatchUp(b *testing.B) {
	for _, n := range []int{10_000, 50_000} {
		b.Run(fmt.Sprintf("apps=%d", n), func(b *testing.B) {
			for b.Loop() {
				benchmarkCatchUp(b, n)
			}
		})
	}
}

func benchmarkCatchUp(b *testing.B, apps int) {
	bin := serveBinary(b)
	seed := qrssim.DefaultSeed("dev")
	for i := range apps {
		seed.Apps = append(seed.Apps, qrssim.AppSeed{Name: fmt.Sprintf("App %05d", i), Owner: `CORP\sales_rep`, Stream: "Sales",
			Description: "An app among many, with a description as long as a real one often is: what it shows and for whom.",
			Properties:  map[string][]string{"PromoteToStream": {"Sales"}}})
	}
	sim, err := qrssim.Start(qrssim.Options{Sites: []qrssim.SiteOptions{{Alias: "dev", Seed: seed}}})
	if err != nil {
		b.Fatal(err)
	}
	defer sim.Close()
	dev := sim.Site("dev")
	dir := b.TempDir()
	port := freePort(b)
	copyDir(b, "testdata/policies", filepath.Join(dir, "policies"))
	cfg := fmt.Sprintf(`sites:
  - alias: dev
    host: localhost
    port: %d
    certs: %s
    watch: true
listen: 127.0.0.1:%d
callback_url: http://127.0.0.1:%d
policies: policies
state_dir: data
catchup_interval: 2s
resubscribe_interval: 1h
`, dev.Port(), dev.CertDir(), port, port)

	d := startServe(b, bin, dir, cfg, port)
	defer d.stop()
	start := time.Now()
	waitFor(b, 5*time.Minute, "the first catch-up", func() bool { return d.status().Sites[0].CatchupMark != "" })
	first := time.Since(start)

	// Idle cycles: count them on /status and the list calls in the site's log.
	dev.ResetRequests()
	const cycles = 5
	seen := map[time.Time]bool{}
	last := d.status().Sites[0].LastCatchup
	waitFor(b, 2*time.Minute, "idle catch-up cycles", func() bool {
		st := d.status().Sites[0]
		if st.CatchupError != "" {
			b.Fatalf("catch-up failed: %s", st.CatchupError)
		}
		if !st.LastCatchup.Equal(last) {
			seen[st.LastCatchup] = true
		}
		return len(seen) >= cycles
	})
	lists := appLists(dev)
	// The last cycle may have listed before /status showed it, or after.
	rss, hwm := d.memory()
	d.stop()
	heap := d.peakHeapMB()

	b.ReportMetric(float64(hwm)/1e6, "peak-RSS-MB")
	b.ReportMetric(float64(rss)/1e6, "end-RSS-MB")
	b.ReportMetric(heap, "peak-heap-MB")
	b.ReportMetric(first.Seconds(), "first-catchup-s")
	b.ReportMetric(float64(lists)/float64(len(seen)), "list-calls/cycle")
	if hwm > 64e6 {
		b.Logf("TARGET MISSED: peak RSS %.1f MB, over 64 MB", float64(hwm)/1e6)
	}
	if float64(lists)/float64(len(seen)) > 2 {
		b.Logf("TARGET MISSED: %d app lists in %d idle catch-up cycles, over 2 a cycle", lists, len(seen))
	}
}

// BenchmarkReleaseDay approves 20 apps of 64 MiB within a second for test
// and prod, every site behind a 50 MB/s link shared by all its transfers
// (dev's carries the exports), then the same with prod's link at 5 MB/s.
// It reports when each target site had all 20 apps, against its link's
// floor (20 × 64 MiB ÷ its rate: each link busy all the time), and the
// daemon's peak RSS. Targets: at 50/50, done within 1.2× the floor; with
// prod at 5, test within 1.5× its own floor; every copy exactly once.
func BenchmarkReleaseDay(b *testing.B) {
	for _, c := range []struct {
		name       string
		test, prod int64
	}{
		{"links=50MBps", 50e6, 50e6},
		{"prod=5MBps", 50e6, 5e6},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				benchmarkReleaseDay(b, c.test, c.prod)
			}
		})
	}
}

func benchmarkReleaseDay(b *testing.B, testBPS, prodBPS int64) {
	const apps, size = 20, 64 << 20
	bin := serveBinary(b)
	r := newReleaseDay(b, apps, size, map[string]int64{"dev": 50e6, "test": testBPS, "prod": prodBPS})
	dir := b.TempDir()
	port := freePort(b)
	copyDir(b, "testdata/policies", filepath.Join(dir, "policies"))
	d := startServe(b, bin, dir, fmt.Sprintf("%slisten: 127.0.0.1:%d\ncallback_url: http://127.0.0.1:%d\npolicies: policies\nstate_dir: data\n",
		r.sitesYAML(nil), port, port), port)
	defer d.stop()
	waitFor(b, time.Minute, "dev subscribed", func() bool { return len(r.dev.Subscriptions()) == len(subscriptions) })

	p := r.watchProgress(100 * time.Millisecond)
	r.approveAll()
	if !p.wait(20 * time.Minute) {
		b.Fatalf("not done within 20 minutes: %v", p.done)
	}
	// The step after promote (strip) runs once both sites are done.
	waitFor(b, 5*time.Minute, "every execution to end", func() bool {
		for _, a := range r.apps {
			app, _ := r.dev.App(a.ID)
			if len(app.PropertyValues("PromotionApproval")) > 0 {
				return false
			}
		}
		return true
	})
	_, hwm := d.memory()
	d.stop()
	r.checkOnce(2)

	floor := func(bps int64) time.Duration {
		return time.Duration(float64(apps*size) / float64(bps) * float64(time.Second))
	}
	testFloor, prodFloor := floor(testBPS), floor(prodBPS)
	total := max(p.done["test"], p.done["prod"])
	b.ReportMetric(p.done["test"].Seconds(), "test-s")
	b.ReportMetric(p.done["prod"].Seconds(), "prod-s")
	b.ReportMetric(p.done["test"].Seconds()/testFloor.Seconds(), "test/test-floor")
	b.ReportMetric(total.Seconds()/max(testFloor, prodFloor).Seconds(), "total/floor")
	b.ReportMetric(float64(hwm)/1e6, "peak-RSS-MB")
	b.ReportMetric(d.peakHeapMB(), "peak-heap-MB")
	b.Logf("approvals sent in %s; first app on test after %s, on prod after %s; all on test after %s, on prod after %s; floors: test %s, prod %s",
		r.lastSent.Sub(r.approvedAt), p.first["test"], p.first["prod"], p.done["test"], p.done["prod"], testFloor, prodFloor)
	// Reported, not failed: a loaded machine misses them for want of CPU,
	// and a failed benchmark prints no figures.
	if testBPS == prodBPS && total > max(testFloor, prodFloor)*12/10 {
		b.Logf("TARGET MISSED: done after %s, over 1.2× the links' floor %s", total, max(testFloor, prodFloor))
	}
	if testBPS > prodBPS && p.done["test"] > testFloor*15/10 {
		b.Logf("TARGET MISSED: test had every app after %s, over 1.5× its link's floor %s", p.done["test"], testFloor)
	}
}

var (
	serveOnce sync.Once
	serveBin  string
	serveErr  error
)

// serveBinary builds cmd/qs-promoter from this tree, once per run; the
// environment's QSP_BENCH_SERVE names another binary instead (to compare
// with an older build).
func serveBinary(b *testing.B) string {
	b.Helper()
	if runtime.GOOS != "linux" {
		b.Skip("measures the daemon's memory in /proc")
	}
	if bin := os.Getenv("QSP_BENCH_SERVE"); bin != "" {
		return bin
	}
	serveOnce.Do(func() {
		dir, err := os.MkdirTemp("", "qsp-bench-")
		if err != nil {
			serveErr = err
			return
		}
		serveBin = filepath.Join(dir, "qs-promoter")
		out, err := exec.Command("go", "build", "-o", serveBin, "github.com/qs-promoter/qs-promoter/cmd/qs-promoter").CombinedOutput()
		if err != nil {
			serveErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if serveErr != nil {
		b.Fatal(serveErr)
	}
	return serveBin
}

// served is `qs-promoter serve` running as a child process.
type served struct {
	b      *testing.B
	cmd    *exec.Cmd
	port   int
	stderr *lockedBuffer
	once   sync.Once
}

func startServe(b *testing.B, bin, dir, config string, port int) *served {
	b.Helper()
	path := filepath.Join(dir, "qs-promoter.yaml")
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		b.Fatal(err)
	}
	d := &served{b: b, port: port, stderr: &lockedBuffer{}}
	d.cmd = exec.Command(bin, "serve", "--config", path)
	d.cmd.Env = append(os.Environ(), "GODEBUG=gctrace=1")
	d.cmd.Stderr = d.stderr
	if err := d.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	waitFor(b, time.Minute, "the daemon to listen", func() bool {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", port))
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})
	return d
}

func (d *served) status() Status {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/status", d.port))
	if err != nil {
		d.b.Fatal(err)
	}
	defer resp.Body.Close()
	var st Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		d.b.Fatal(err)
	}
	return st
}

// memory returns the daemon's resident set now and its peak (VmRSS, VmHWM).
func (d *served) memory() (rss, hwm int64) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", d.cmd.Process.Pid))
	if err != nil {
		d.b.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		k, v, _ := strings.Cut(s.Text(), ":")
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			rss = kb << 10
		case "VmHWM":
			hwm = kb << 10
		}
	}
	return rss, hwm
}

// stop ends the daemon gracefully (SIGTERM) and waits for it.
func (d *served) stop() {
	d.once.Do(func() {
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = d.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(time.Minute):
			_ = d.cmd.Process.Kill()
			<-done
		}
		if d.b.Failed() {
			d.b.Logf("daemon's log (end):\n%s", tail(d.stderr.String(), 4000))
		}
	})
}

// gcTrace matches a GODEBUG=gctrace=1 line's heap sizes: at the start of
// the cycle, at its end, and live.
var gcTrace = regexp.MustCompile(`(\d+)->(\d+)->(\d+) MB`)

// peakHeapMB is the largest heap the daemon's GC traced (MB, whole).
func (d *served) peakHeapMB() float64 {
	peak := 0
	for _, m := range gcTrace.FindAllStringSubmatch(d.stderr.String(), -1) {
		for _, v := range m[1:3] {
			n, _ := strconv.Atoi(v)
			peak = max(peak, n)
		}
	}
	return float64(peak)
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

var _ io.Writer = (*lockedBuffer)(nil)
