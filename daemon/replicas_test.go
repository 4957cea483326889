package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/qs-promoter/qs-promoter/qrs"
	"github.com/qs-promoter/qs-promoter/qrs/qrssim"
	"github.com/qs-promoter/qs-promoter/store"
	"github.com/qs-promoter/qs-promoter/store/storetest"
)

// Knobs of a child daemon (TestDaemonChildProcess) that the configuration
// does not have: a short leader lease and rescue_after below its minimum,
// so that a failover test takes seconds, not minutes.
const (
	childLeaseEnv   = "QSP_DAEMON_CHILD_LEASE_TTL"
	childRescueEnv  = "QSP_DAEMON_CHILD_RESCUE_AFTER"
	haDatabaseEnv   = "QSP_TEST_HA_DATABASE_URL"
	haRoundsEnv     = "QSP_HA_ROUNDS" // failover rounds; CI runs haRoundsCI
	haRoundsCI      = 3
	haLeaseTTL      = 1500 * time.Millisecond
	haRescueAfter   = 4 * time.Second
	haTakeoverLimit = 30 * time.Second
)

func childKnobs(t *testing.T, cfg *Config) []Option {
	var opts []Option
	if v := os.Getenv(childLeaseEnv); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatal(err)
		}
		opts = append(opts, withLeaseTTL(d))
	}
	if v := os.Getenv(childRescueEnv); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatal(err)
		}
		cfg.RescueAfter = d
	}
	return opts
}

// cluster is replicas of the daemon, each a child process (so that a
// crash is a real SIGKILL: no drain, no unsubscribe, no lease released),
// sharing one PostgreSQL schema, against simulated dev (watched), test and
// prod sites.
type cluster struct {
	t        *testing.T
	sim      *qrssim.Sim
	dev      *qrssim.Site
	human    *qrs.Client
	dir      string
	schema   string
	st       *store.Store // the test's own view of the shared database
	replicas map[string]*replicaProc
}

type replicaProc struct {
	name, dir, callback string
	port                int
	cmd                 *exec.Cmd
	exited              chan struct{}
}

func newCluster(t *testing.T) *cluster {
	dbURL, schema := storetest.Postgres(t)
	sim, err := qrssim.Start(qrssim.Options{Sites: []qrssim.SiteOptions{
		{Alias: "dev", Seed: qrssim.DefaultSeed("dev")},
		{Alias: "test", Seed: qrssim.DefaultSeed("test")},
		{Alias: "prod", Seed: qrssim.DefaultSeed("prod")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	c := &cluster{t: t, sim: sim, dev: sim.Site("dev"), dir: t.TempDir(), schema: schema, replicas: map[string]*replicaProc{}}
	hc := c.dev.ClientConfig()
	hc.User = humanUser
	if c.human, err = qrs.NewClient(hc); err != nil {
		t.Fatal(err)
	}
	copyDir(t, "testdata/policies", filepath.Join(c.dir, "policies"))
	t.Setenv(haDatabaseEnv, dbURL)
	if c.st, err = store.Open(context.Background(), store.Options{Driver: store.DriverPostgres, URL: dbURL, Schema: schema}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.st.Close() })
	for _, name := range []string{"a", "b"} {
		port := freePort(t)
		r := &replicaProc{name: name, dir: filepath.Join(c.dir, name), port: port, callback: fmt.Sprintf("http://127.0.0.1:%d", port)}
		if err := os.MkdirAll(r.dir, 0o755); err != nil {
			t.Fatal(err)
		}
		// Each replica: its own listen, callback_url and state_dir;
		// everything else the same.
		cfg := fmt.Sprintf(`sites:
  - {alias: dev, host: localhost, port: %d, certs: %s, watch: true}
  - {alias: test, host: localhost, port: %d, certs: %s}
  - {alias: prod, host: localhost, port: %d, certs: %s}
listen: 127.0.0.1:%d
callback_url: %s
policies: %s
state_dir: data
store:
  driver: postgres
  url_env: %s
  schema: %s
coalesce_window: 100ms
health_interval: 200ms
resubscribe_interval: 5m
catchup_interval: 1h
workers: 4
`, c.dev.Port(), c.dev.CertDir(), sim.Site("test").Port(), sim.Site("test").CertDir(), sim.Site("prod").Port(), sim.Site("prod").CertDir(),
			port, r.callback, filepath.Join(c.dir, "policies"), haDatabaseEnv, schema)
		if err := os.WriteFile(filepath.Join(r.dir, "qs-promoter.yaml"), []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		c.replicas[name] = r
	}
	return c
}

// start runs a replica as a child process.
func (c *cluster) start(name string) {
	r := c.replicas[name]
	cmd := exec.Command(os.Args[0], "-test.run=^TestDaemonChildProcess$", "-test.v")
	cmd.Env = append(os.Environ(), childEnv+"="+filepath.Join(r.dir, "qs-promoter.yaml"),
		childLeaseEnv+"="+haLeaseTTL.String(), childRescueEnv+"="+haRescueAfter.String())
	w := testWriter{c.t}
	cmd.Stdout, cmd.Stderr = prefixWriter{"replica " + name + ": ", w}, prefixWriter{"replica " + name + ": ", w}
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	r.cmd, r.exited = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); close(r.exited) }()
	c.t.Cleanup(func() { _ = cmd.Process.Kill(); <-r.exited })
}

// kill crashes a replica: SIGKILL, nothing it can clean up.
func (c *cluster) kill(name string) {
	r := c.replicas[name]
	if err := r.cmd.Process.Kill(); err != nil {
		c.t.Fatal(err)
	}
	<-r.exited
}

// stop stops a replica gracefully (SIGTERM) and waits for it.
func (c *cluster) stop(name string) {
	r := c.replicas[name]
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		c.t.Fatal(err)
	}
	select {
	case <-r.exited:
	case <-time.After(30 * time.Second):
		c.t.Fatalf("replica %s did not stop within 30s of SIGTERM", name)
	}
	if code := r.cmd.ProcessState.ExitCode(); code != 0 {
		c.t.Errorf("replica %s exited with %d", name, code)
	}
}

// subscribedBy names the replica holding dev's subscriptions when it holds
// exactly the expected set and nobody else holds any ("" otherwise).
func (c *cluster) subscribedBy() string {
	subs := c.dev.Subscriptions()
	if len(subs) != len(subscriptions) {
		return ""
	}
	owner := ""
	for _, s := range subs {
		name := ""
		for n, r := range c.replicas {
			if strings.HasPrefix(s.URL, r.callback+"/") {
				name = n
			}
		}
		if name == "" || owner != "" && name != owner {
			return ""
		}
		owner = name
	}
	return owner
}

func (c *cluster) waitSubscribed(timeout time.Duration) string {
	c.t.Helper()
	var owner string
	waitFor(c.t, timeout, "one replica holding the only subscriptions", func() bool { owner = c.subscribedBy(); return owner != "" })
	return owner
}

// waitAlive waits until n replicas are registered and marking themselves
// alive (a replica started is then past its start-up).
func (c *cluster) waitAlive(n int) {
	c.t.Helper()
	waitFor(c.t, 30*time.Second, fmt.Sprintf("%d replicas alive", n), func() bool {
		rs, _ := c.st.Replicas(context.Background())
		alive := 0
		for _, r := range rs {
			if r.Silent < haLeaseTTL {
				alive++
			}
		}
		return alive == n
	})
}

// approve adds an app to dev and approves it for promotion as a human would.
func (c *cluster) approve(name string, servers, streams []string) qrs.App {
	c.t.Helper()
	app, err := c.dev.AddApp(qrssim.AppSeed{Name: name, Owner: `CORP\sales_rep`, Stream: "Sales", Size: 64 << 10})
	if err != nil {
		c.t.Fatal(err)
	}
	h := &harness{t: c.t, human: c.human}
	h.setProps(app.ID, map[string][]string{"PromoteToServer": servers, "PromoteToStream": streams, "PromotionApproval": {"Approve"}})
	return app
}

// promoted reports whether an app's promotion ended exactly right: one
// copy in each stream of each site, and the source's properties stripped.
// It fails the test at once on a second copy.
func (c *cluster) promoted(app qrs.App, sites, streams []string) bool {
	c.t.Helper()
	done := true
	for _, alias := range sites {
		for _, stream := range streams {
			switch n := len(appsNamed(c.sim.Site(alias), app.Name, stream)); {
			case n > 1:
				c.t.Fatalf("%s holds %d copies of %q in %s: promoted twice", alias, n, app.Name, stream)
			case n == 0:
				done = false
			}
		}
	}
	src, _ := c.dev.App(app.ID)
	return done && len(src.PropertyValues("PromotionApproval")) == 0
}

// idle reports whether no execution is queued or running.
func (c *cluster) idle() bool {
	depth, err := c.st.QueueDepth(context.Background())
	if err != nil {
		return false
	}
	for _, n := range depth {
		if n > 0 {
			return false
		}
	}
	return true
}

// attempts returns how many attempts the app's acted execution took: more
// than one when a kill cut it and another replica resumed it.
func (c *cluster) attempts(app qrs.App) int {
	page, err := c.st.AuditRecords(context.Background(), store.AuditQuery{AppID: app.ID, Type: "decision", Limit: 1000})
	if err != nil {
		c.t.Fatal(err)
	}
	for _, r := range page.Records {
		var d auditDecision
		if err := json.Unmarshal(r.Record, &d); err == nil && d.Outcome == OutcomeActed {
			return d.Attempt
		}
	}
	return 0
}

// Two replicas on one PostgreSQL: the leader is killed (SIGKILL) at a
// random moment of a promotion to two sites, and a change is made while
// the other takes over. Every round: the other replica holds the only
// subscriptions within 30 s, the promotion ends exactly right (one copy in
// each stream of each site, whichever replica ran it and wherever the kill
// fell), and the change made during the takeover is promoted too (the new
// leader's catch-up finds it). The killed replica then starts again.
// Rounds: haRoundsCI, or QSP_HA_ROUNDS.
func TestReplicasFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts replicas as subprocesses")
	}
	rounds := haRoundsCI
	if v := os.Getenv(haRoundsEnv); v != "" {
		var err error
		if rounds, err = strconv.Atoi(v); err != nil || rounds < 1 {
			t.Fatalf("%s=%q: want a positive number", haRoundsEnv, v)
		}
	}
	c := newCluster(t)
	// Every QRS call on the targets takes a little while, so that the
	// promotion lasts long enough for the kill to fall inside it.
	for _, alias := range []string{"test", "prod"} {
		c.sim.Site(alias).SetFaults(qrssim.Faults{Latency: 100 * time.Millisecond})
	}
	c.start("a")
	c.waitSubscribed(30 * time.Second)
	c.start("b")
	sites, streams := []string{"test", "prod"}, []string{"Sales", "Everyone"}
	var takeovers []time.Duration
	interrupted := 0
	for round := range rounds {
		leader := c.waitSubscribed(30 * time.Second)
		other := map[string]string{"a": "b", "b": "a"}[leader]
		c.waitAlive(2)
		app := c.approve(fmt.Sprintf("HA round %d", round), []string{"test - Duplicate", "prod - Duplicate"}, streams)
		time.Sleep(time.Duration(rand.Int64N(int64(2500 * time.Millisecond))))
		c.kill(leader)
		killed := time.Now()
		during := c.approve(fmt.Sprintf("HA round %d, approved during the takeover", round), []string{"test - Duplicate"}, []string{"Everyone"})

		waitFor(t, haTakeoverLimit, "replica "+other+" to hold the only subscriptions", func() bool { return c.subscribedBy() == other })
		takeovers = append(takeovers, time.Since(killed))
		waitFor(t, 60*time.Second, "both promotions to end", func() bool {
			return c.promoted(app, sites, streams) && c.promoted(during, []string{"test"}, []string{"Everyone"})
		})
		waitFor(t, 30*time.Second, "the queue to empty", c.idle)
		// Nothing late makes a second copy.
		if !c.promoted(app, sites, streams) || !c.promoted(during, []string{"test"}, []string{"Everyone"}) {
			t.Fatalf("round %d: a promotion came undone", round)
		}
		attempts := c.attempts(app)
		if attempts > 1 {
			interrupted++
		}
		t.Logf("round %d: killed %s; %s held the only subscriptions %s later; the promotion took %d attempts", round, leader, other,
			takeovers[round].Round(time.Millisecond), attempts)
		c.start(leader)
	}
	t.Logf("%d rounds: takeover times %v; %d promotions were cut by the kill and resumed elsewhere", rounds, takeovers, interrupted)

	// A graceful stop of both leaves no subscription behind.
	leader := c.waitSubscribed(30 * time.Second)
	c.waitAlive(2)
	c.stop(map[string]string{"a": "b", "b": "a"}[leader])
	c.stop(leader)
	if n := len(c.dev.Subscriptions()); n != 0 {
		t.Errorf("%d subscriptions left after both replicas stopped", n)
	}
}

// prefixWriter prefixes each write (a child's log line) with its name.
type prefixWriter struct {
	prefix string
	w      testWriter
}

func (p prefixWriter) Write(b []byte) (int, error) {
	for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		_, _ = p.w.Write([]byte(p.prefix + l))
	}
	return len(b), nil
}

// A replica killed in the middle of a promotion (between the promote step
// and the next) has its execution resumed by the other replica, from its
// checkpoints, within about rescue_after: promote is not run again (one
// copy in each stream), the remaining step runs, and the other replica,
// still alive, was never asked to run the execution twice at once.
func TestReplicaCrashMidPromotionResumesElsewhere(t *testing.T) {
	if testing.Short() {
		t.Skip("starts replicas as subprocesses")
	}
	c := newCluster(t)
	c.start("a")
	c.waitSubscribed(30 * time.Second)
	c.start("b")
	c.waitAlive(2)
	// The step after promote (a GET and a PUT on dev) takes a while, so the
	// kill lands between the two steps.
	app, err := c.dev.AddApp(qrssim.AppSeed{Name: "HA mid-promotion", Owner: `CORP\sales_rep`, Stream: "Sales", Size: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	c.dev.SetFaults(qrssim.Faults{Latency: 400 * time.Millisecond})
	(&harness{t: t, human: c.human}).setProps(app.ID, map[string][]string{
		"PromoteToServer": {"test - Duplicate", "prod - Duplicate"}, "PromoteToStream": {"Sales", "Everyone"}, "PromotionApproval": {"Approve"}})

	var runner, execID string
	waitFor(t, 60*time.Second, "the promote step to finish on a replica", func() bool {
		for name, r := range c.replicas {
			for _, l := range auditLinesIfAny(r.dir) {
				if l["type"] == "step" && l["step"] == "promote" && l["status"] == "done" && l["app_id"] == app.ID {
					runner, execID = name, l["execution_id"].(string)
					return true
				}
			}
		}
		return false
	})
	c.kill(runner)
	killed := time.Now()
	for _, l := range auditLinesIfAny(c.replicas[runner].dir) {
		if l["execution_id"] == execID && (l["step"] == "strip" || l["type"] == "decision") {
			t.Fatalf("the kill came too late (the execution went on: %v); the test proves nothing", l)
		}
	}
	c.dev.SetFaults(qrssim.Faults{})
	other := map[string]string{"a": "b", "b": "a"}[runner]
	var resumed bool
	waitFor(t, 60*time.Second, "the other replica to finish the execution", func() bool {
		done := false
		for _, l := range auditLinesIfAny(c.replicas[other].dir) {
			if l["execution_id"] != execID {
				continue
			}
			if l["step"] == "promote" && l["resumed"] == true {
				resumed = true
			}
			done = done || l["type"] == "decision" && l["outcome"] == OutcomeActed
		}
		return done
	})
	took := time.Since(killed)
	t.Logf("replica %s killed after the promote step; %s finished the execution %s later (rescue_after %s)", runner, other, took.Round(time.Millisecond), haRescueAfter)
	if !resumed {
		t.Error("promote ran again instead of being resumed from its checkpoint")
	}
	// Rescue after rescue_after of silence, noticed within an eighth of it
	// by the leader (which may have to take over first), then the rest.
	if limit := haRescueAfter + haLeaseTTL + 5*time.Second; took > limit {
		t.Errorf("resumed %s after the kill, want within %s", took, limit)
	}
	if !c.promoted(app, []string{"test", "prod"}, []string{"Sales", "Everyone"}) {
		t.Error("the promotion did not end right")
	}
}
