package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qs-promoter/qs-promoter/engine"
	"github.com/qs-promoter/qs-promoter/store"
	"github.com/qs-promoter/qs-promoter/store/storetest"
)

// cuttableProxy forwards TCP connections to a server until cut: then it
// drops every connection and refuses new ones, as a network partition
// would, until restored.
type cuttableProxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]bool
}

func newCuttableProxy(t *testing.T, target string) *cuttableProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cuttableProxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	t.Cleanup(func() { ln.Close(); p.setCut(true) })
	go p.serve()
	return p
}

func (p *cuttableProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.forward(c)
	}
}

func (p *cuttableProxy) forward(c net.Conn) {
	p.mu.Lock()
	if p.cut {
		p.mu.Unlock()
		c.Close()
		return
	}
	p.mu.Unlock()
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.cut {
		p.mu.Unlock()
		c.Close()
		up.Close()
		return
	}
	p.conns[c], p.conns[up] = true, true
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done
	c.Close()
	up.Close()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, up)
	p.mu.Unlock()
}

func (p *cuttableProxy) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for c := range p.conns {
			c.Close()
		}
	}
}

// inProcessReplica runs a daemon in this process with its own listen,
// callback_url and state_dir, on the given PostgreSQL URL and schema, with
// the harness's policies unless policies names another folder.
func inProcessReplica(t *testing.T, h *harness, name, dbURL, schema, policies string) (*Daemon, int) {
	t.Helper()
	port := freePort(t)
	dir := filepath.Join(h.dir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cfgYAML := strings.Replace(h.configYAML(), fmt.Sprintf("127.0.0.1:%d", h.port), fmt.Sprintf("127.0.0.1:%d", port), -1)
	if policies == "" {
		policies = filepath.Join(h.dir, "policies")
	}
	cfgYAML = strings.Replace(cfgYAML, "policies: policies", "policies: "+policies, 1)
	cfg, err := ParseConfig(filepath.Join(dir, "qs-promoter.yaml"), []byte(cfgYAML))
	if err != nil {
		t.Fatal(err)
	}
	// A job whose end could not be recorded while the database was cut off
	// stays "running" until rescued: soon, here.
	cfg.RescueAfter = haRescueAfter
	log := discardLogger()
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(prefixWriter{name + ": ", testWriter{t}}, nil))
	}
	d, err := New(cfg, WithLogger(log), WithPollInterval(100*time.Millisecond), withLeaseTTL(haLeaseTTL),
		withStore(func(o *store.Options) { o.Driver, o.URL, o.Schema = store.DriverPostgres, dbURL, schema }),
		OnExecution(func(r ExecutionReport) {
			h.mu.Lock()
			h.reports = append(h.reports, r)
			h.mu.Unlock()
		}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Errorf("replica %s did not stop", name)
		}
	})
	return d, port
}

func httpStatus(t *testing.T, method, url, body string) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// A leader cut off from its database gives up leadership before its lease
// ends (the other replica takes over and holds the only subscriptions), is
// not ready and refuses callbacks (503: nothing can be recorded); a change
// made meanwhile is promoted once, by way of the new leader. Reconnected,
// it is ready again, takes callbacks, and follows.
func TestReplicaCutOffFromTheDatabase(t *testing.T) {
	dbURL, schema := storetest.Postgres(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newCuttableProxy(t, u.Host)
	viaProxy := *u
	viaProxy.Host = proxy.ln.Addr().String()

	h := newHarness(t)
	a, portA := inProcessReplica(t, h, "a", viaProxy.String(), schema, "")
	waitFor(t, 20*time.Second, "a to lead and subscribe", func() bool {
		return a.isLeader() && len(h.dev.Subscriptions()) == len(subscriptions)
	})
	b, portB := inProcessReplica(t, h, "b", dbURL, schema, "")
	urlA, urlB := fmt.Sprintf("http://127.0.0.1:%d", portA), fmt.Sprintf("http://127.0.0.1:%d", portB)
	waitFor(t, 20*time.Second, "both ready", func() bool {
		return httpStatus(t, "GET", urlA+"/readyz", "") == 200 && httpStatus(t, "GET", urlB+"/readyz", "") == 200
	})
	callback := "/callback/dev/" + a.sites["dev"].token
	change := `[{"changeType":2,"objectType":"App","objectID":"00000000-0000-4000-8000-000000000001","changedProperties":["description"]}]`
	if st := httpStatus(t, "POST", urlB+callback, change); st != http.StatusAccepted {
		t.Fatalf("a follower's callback: %d, want 202", st)
	}

	proxy.setCut(true)
	cut := time.Now()
	waitFor(t, 2*haLeaseTTL, "a to stop leading", func() bool { return !a.isLeader() })
	t.Logf("a stopped leading %s after the cut (lease %s)", time.Since(cut).Round(time.Millisecond), haLeaseTTL)
	waitFor(t, 30*time.Second, "b to hold the only subscriptions", func() bool {
		subs := h.dev.Subscriptions()
		if len(subs) != len(subscriptions) {
			return false
		}
		for _, s := range subs {
			if !strings.HasPrefix(s.URL, urlB+"/") {
				return false
			}
		}
		return true
	})
	if st := httpStatus(t, "GET", urlA+"/readyz", ""); st != http.StatusServiceUnavailable {
		t.Errorf("a's /readyz while cut off: %d, want 503", st)
	}
	start := time.Now()
	if st := httpStatus(t, "POST", urlA+callback, change); st != http.StatusServiceUnavailable {
		t.Errorf("a's callback while cut off: %d, want 503", st)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("a took %s to refuse a callback", took)
	}
	if !b.isLeader() {
		t.Error("b holds the subscriptions but does not lead")
	}

	src := appByName(t, h.dev, "Sales Dashboard")
	h.setProps(src.ID, map[string][]string{"PromoteToServer": {"test - Duplicate"}, "PromoteToStream": {"Everyone"}, "PromotionApproval": {"Approve"}})
	waitFor(t, 30*time.Second, "the approval made while a is cut off to be promoted", func() bool {
		return countOutcome(h.reportsFor(src.ID), OutcomeActed) == 1
	})

	proxy.setCut(false)
	waitFor(t, 30*time.Second, "a to be ready again", func() bool { return httpStatus(t, "GET", urlA+"/readyz", "") == 200 })
	if st := httpStatus(t, "POST", urlA+callback, change); st != http.StatusAccepted {
		t.Errorf("a's callback once reconnected: %d, want 202", st)
	}
	if a.isLeader() || !b.isLeader() {
		t.Errorf("after reconnecting: a leads %v, b leads %v; want b only", a.isLeader(), b.isLeader())
	}
	waitFor(t, 30*time.Second, "the queue to empty", func() bool {
		depth, err := b.store.QueueDepth(context.Background())
		busy := 0
		for _, n := range depth {
			busy += n
		}
		return err == nil && busy == 0
	})
	if n := len(appsNamed(h.test, "Sales Dashboard", "Everyone")); n != 1 {
		t.Errorf("test holds %d copies in Everyone, want 1", n)
	}

	// a serves the recorded event of the execution b ran, from the database.
	var acted ExecutionReport
	for _, r := range h.reportsFor(src.ID) {
		if r.Outcome == OutcomeActed {
			acted = r
		}
	}
	ex, err := a.Execution(context.Background(), acted.ExecutionID)
	var ev engine.Event
	if err != nil || ex == nil || json.Unmarshal(ex.Event, &ev) != nil || ev.App == nil || ev.App.ID != src.ID {
		t.Errorf("a's view of the recorded event of %s (run by b): %+v %v", acted.ExecutionID, ex, err)
	}
}

// /status on any replica lists the replicas sharing the database, which
// leads, and flags the one running other policies than the leader.
func TestStatusListsReplicas(t *testing.T) {
	dbURL, schema := storetest.Postgres(t)
	h := newHarness(t)
	a, _ := inProcessReplica(t, h, "a", dbURL, schema, "")
	waitFor(t, 20*time.Second, "a to lead", a.isLeader)
	// b's policy folder differs by a comment: another revision.
	other := filepath.Join(h.dir, "policies-b")
	copyDir(t, filepath.Join(h.dir, "policies"), other)
	f, err := os.OpenFile(filepath.Join(other, "20-approval.yaml"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(f, "# edited on b only")
	f.Close()
	b, _ := inProcessReplica(t, h, "b", dbURL, schema, other)

	// What b's /status (on its console) shows.
	var st Status
	waitFor(t, 20*time.Second, "b's status to list both replicas and the leader's view of dev", func() bool {
		st = b.StatusContext(context.Background())
		return len(st.Replicas) == 2 && len(st.Sites) == 2 && !st.Sites[0].LastCheck.IsZero()
	})
	if st.Store != store.DriverPostgres || st.Replica != b.replica || st.Leader != a.replica {
		t.Fatalf("status: store %q, replica %q (want %q), leader %q (want %q)", st.Store, st.Replica, b.replica, st.Leader, a.replica)
	}
	byID := map[string]ReplicaStatus{}
	for _, r := range st.Replicas {
		byID[r.ID] = r
	}
	ra, rb := byID[a.replica], byID[b.replica]
	if !ra.Leader || ra.This || !ra.Alive || ra.RevisionDiffers || ra.CallbackURL != a.cfg.CallbackURL || ra.Revision != a.rules.Status().Revision {
		t.Errorf("a as b sees it: %+v", ra)
	}
	if rb.Leader || !rb.This || !rb.Alive || !rb.RevisionDiffers || rb.Revision != b.rules.Status().Revision {
		t.Errorf("b as b sees it: %+v", rb)
	}
	if len(st.Warnings) != 1 || !strings.Contains(st.Warnings[0], "replica "+b.replica+" runs policy revision "+rb.Revision+", the leader "+ra.Revision) {
		t.Errorf("warnings %q", st.Warnings)
	}
	// b sees the sites as the leader published them.
	if len(st.Sites) != 2 || !st.Sites[0].Up || len(st.Sites[0].Subscriptions) != len(subscriptions) || st.Sites[0].LastCheck.IsZero() {
		t.Errorf("b's view of the sites: %+v", st.Sites)
	}
	if b.siteDown("dev") || b.siteDown("test") {
		t.Error("b takes a site that answers for down")
	}

	// The leader finds test down: b, which never checks it, knows.
	h.test.RestartFor(6 * time.Second)
	waitFor(t, 10*time.Second, "b to see test down", func() bool { return b.siteDown("test") })
	if !a.siteDown("test") || b.siteDown("dev") {
		t.Errorf("down: test on a %v, dev on b %v", a.siteDown("test"), b.siteDown("dev"))
	}
	waitFor(t, 20*time.Second, "b to see test up again", func() bool { return !b.siteDown("test") })
}
