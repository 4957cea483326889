package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qs-promoter/qs-promoter/qrs"
	"github.com/qs-promoter/qs-promoter/qrs/qrssim"
)

// releaseDay is a busy day on simulated sites: n apps on dev (watched),
// each set to be promoted to test and prod (overwrite, stream Everyone)
// and waiting for its approval; every site behind a link of its own,
// shared by all its transfers as a WAN link is.
type releaseDay struct {
	t                    testing.TB
	sim                  *qrssim.Sim
	dev, test, prod      *qrssim.Site
	apps                 []qrs.App
	size                 int64
	human                *qrs.Client
	approvedAt, lastSent time.Time
}

func newReleaseDay(t testing.TB, n int, size int64, links map[string]int64) *releaseDay {
	t.Helper()
	sim, err := qrssim.Start(qrssim.Options{Sites: []qrssim.SiteOptions{
		{Alias: "dev", Seed: qrssim.DefaultSeed("dev")},
		{Alias: "test", Seed: qrssim.DefaultSeed("test")},
		{Alias: "prod", Seed: qrssim.DefaultSeed("prod")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	r := &releaseDay{t: t, sim: sim, dev: sim.Site("dev"), test: sim.Site("test"), prod: sim.Site("prod"), size: size}
	for i := range n {
		a, err := r.dev.AddApp(qrssim.AppSeed{Name: fmt.Sprintf("Release %02d", i), Owner: `CORP\sales_rep`, Stream: "Sales", Size: size,
			Properties: map[string][]string{"PromoteToServer": {"test - Overwrite", "prod - Overwrite"}, "PromoteToStream": {"Everyone"}}})
		if err != nil {
			t.Fatal(err)
		}
		r.apps = append(r.apps, a)
	}
	for alias, bps := range links {
		sim.Site(alias).SetFaults(qrssim.Faults{LinkBytesPerSecond: bps})
	}
	hc := r.dev.ClientConfig()
	hc.User = humanUser
	if r.human, err = qrs.NewClient(hc); err != nil {
		t.Fatal(err)
	}
	return r
}

// sitesYAML is the sites: section of a daemon configuration for the three
// sites; extra is added to each target site's entry.
func (r *releaseDay) sitesYAML(extra map[string]string) string {
	var b strings.Builder
	b.WriteString("sites:\n")
	for _, s := range []*qrssim.Site{r.dev, r.test, r.prod} {
		fmt.Fprintf(&b, "  - alias: %s\n    host: localhost\n    port: %d\n    certs: %s\n", s.Alias(), s.Port(), s.CertDir())
		if s == r.dev {
			b.WriteString("    watch: true\n")
		}
		if x := extra[s.Alias()]; x != "" {
			fmt.Fprintf(&b, "    %s\n", x)
		}
	}
	return b.String()
}

// approveAll approves every app, as reviewers would on a release day,
// within about a second.
func (r *releaseDay) approveAll() {
	r.t.Helper()
	defs, err := r.human.CustomPropertyDefinitions(context.Background(), qrs.Eq("name", "PromotionApproval"))
	if err != nil || len(defs) != 1 {
		r.t.Fatalf("PromotionApproval: %v %v", defs, err)
	}
	r.approvedAt = time.Now()
	for _, a := range r.apps {
		_, err := r.human.UpdateApp(context.Background(), a.ID, func(app *qrs.App) error {
			app.CustomProperties = append(app.CustomProperties, qrs.CustomPropertyValue{Value: "Approve",
				Definition: qrs.CustomPropertyDefinitionCondensed{ID: defs[0].ID, Name: defs[0].Name}})
			return nil
		})
		if err != nil {
			r.t.Fatal(err)
		}
	}
	r.lastSent = time.Now()
}

// published counts the apps of the release published in Everyone on s.
func (r *releaseDay) published(s *qrssim.Site) int {
	names := map[string]bool{}
	for _, a := range r.apps {
		names[a.Name] = true
	}
	n := 0
	for _, a := range s.Apps() {
		if names[a.Name] && a.Published && a.Stream != nil && a.Stream.Name == "Everyone" {
			n++
		}
	}
	return n
}

// progress samples how many apps each target site holds, until stop.
type progress struct {
	mu      sync.Mutex
	first   map[string]time.Duration // when the site had its first app, after approveAll began
	done    map[string]time.Duration // when the site had every app
	atDone  map[string]map[string]int
	stopped chan struct{}
	ended   chan struct{}
}

func (r *releaseDay) watchProgress(every time.Duration) *progress {
	p := &progress{first: map[string]time.Duration{}, done: map[string]time.Duration{}, atDone: map[string]map[string]int{}, stopped: make(chan struct{}), ended: make(chan struct{})}
	go func() {
		defer close(p.ended)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			counts := map[string]int{"test": r.published(r.test), "prod": r.published(r.prod)}
			p.mu.Lock()
			for site, n := range counts {
				if _, ok := p.first[site]; !ok && n > 0 {
					p.first[site] = time.Since(r.approvedAt)
				}
				if _, ok := p.done[site]; !ok && n == len(r.apps) {
					p.done[site] = time.Since(r.approvedAt)
					p.atDone[site] = counts
				}
			}
			all := len(p.done) == 2
			p.mu.Unlock()
			if all {
				return
			}
			select {
			case <-p.stopped:
				return
			case <-t.C:
			}
		}
	}()
	return p
}

// wait returns when both sites had every app (ok) or after timeout.
func (p *progress) wait(timeout time.Duration) bool {
	select {
	case <-p.ended:
	case <-time.After(timeout):
		close(p.stopped)
		<-p.ended
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.done) == 2
}

// checkOnce fails unless each target site holds every app exactly once,
// uploaded once, with no temporary app left, and had at most maxTransfers
// uploads at once (and dev as many exports).
func (r *releaseDay) checkOnce(maxTransfers int) {
	r.t.Helper()
	for _, s := range []*qrssim.Site{r.test, r.prod} {
		for _, a := range r.apps {
			if n := len(appsNamed(s, a.Name, "")); n != 1 {
				r.t.Errorf("%s holds %d apps named %s, want 1", s.Alias(), n, a.Name)
			}
		}
		for _, a := range s.Apps() {
			if strings.HasPrefix(a.Name, "~qs-promoter") {
				r.t.Errorf("%s: temporary app %s left", s.Alias(), a.Name)
			}
		}
		if got, want := s.ContentBytesReceived(), int64(len(r.apps))*r.size; got != want {
			r.t.Errorf("%s received %d content bytes, want %d (each app uploaded once)", s.Alias(), got, want)
		}
		if n := maxOverlap(s.Requests(), "POST", "/qrs/app/upload"); n > maxTransfers {
			r.t.Errorf("%s had %d uploads at once, over max_transfers %d", s.Alias(), n, maxTransfers)
		}
	}
	if n := maxOverlap(r.dev.Requests(), "GET", "/tempcontent/"); n > maxTransfers {
		r.t.Errorf("dev served %d export downloads at once, over max_transfers %d", n, maxTransfers)
	}
}

// maxOverlap is the most requests of a kind (path prefix) in progress at once.
func maxOverlap(reqs []qrssim.Request, method, prefix string) int {
	type edge struct {
		at    time.Time
		delta int
	}
	var edges []edge
	for _, r := range reqs {
		if r.Method == method && strings.HasPrefix(r.Path, prefix) {
			edges = append(edges, edge{r.Time, 1}, edge{r.Time.Add(r.Duration), -1})
		}
	}
	// Ends before starts at the same instant: back-to-back is not overlap.
	for i := 1; i < len(edges); i++ {
		for j := i; j > 0 && (edges[j].at.Before(edges[j-1].at) || (edges[j].at.Equal(edges[j-1].at) && edges[j].delta < edges[j-1].delta)); j-- {
			edges[j], edges[j-1] = edges[j-1], edges[j]
		}
	}
	n, most := 0, 0
	for _, e := range edges {
		n += e.delta
		most = max(most, n)
	}
	return most
}

// Approvals for a fast and a slow site at once: the fast site has every app
// long before the slow one, neither gets more uploads at once than
// max_transfers, and each gets every app exactly once.
func TestSlowSiteDoesNotHoldBackFastOne(t *testing.T) {
	const n, size = 6, 256 << 10
	// prod takes ~1s per pair of apps, test ~30ms.
	r := newReleaseDay(t, n, size, map[string]int64{"test": 16 << 20, "prod": 512 << 10})
	h := &harness{t: t, sim: r.sim, dev: r.dev, test: r.test, dir: t.TempDir(), port: freePort(t)}
	copyDir(t, "testdata/policies", filepath.Join(h.dir, "policies"))
	startWithConfig(h, fmt.Sprintf(`%slisten: 127.0.0.1:%d
callback_url: http://127.0.0.1:%d
policies: policies
state_dir: data
coalesce_window: 200ms
health_interval: 100ms
`, r.sitesYAML(nil), h.port, h.port))

	p := r.watchProgress(20 * time.Millisecond)
	r.approveAll()
	if !p.wait(60 * time.Second) {
		t.Fatalf("not done within 60s: %v", p.done)
	}
	p.mu.Lock()
	prodAtTest := p.atDone["test"]["prod"]
	t.Logf("test had all %d apps after %s (prod had %d); prod after %s", n, p.done["test"], prodAtTest, p.done["prod"])
	if prodAtTest > n/2 {
		t.Errorf("when test had all %d apps prod already had %d: test waited for prod", n, prodAtTest)
	}
	p.mu.Unlock()
	h.settle(300 * time.Millisecond)
	r.checkOnce(2)
	for _, a := range r.apps {
		if rs := h.reportsFor(a.ID); countOutcome(rs, OutcomeActed) != 1 {
			t.Errorf("%s: %d executions acted, want 1", a.Name, countOutcome(rs, OutcomeActed))
		}
	}
}

// startWithConfig runs the harness's daemon on a configuration of its own.
func startWithConfig(h *harness, yaml string) {
	h.t.Helper()
	path := filepath.Join(h.dir, "qs-promoter.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		h.t.Fatal(err)
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		h.t.Fatal(err)
	}
	h.run(cfg)
}
