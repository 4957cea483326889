package daemon

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/qs-promoter/qs-promoter/qrs"
	"github.com/qs-promoter/qs-promoter/qrs/qrssim"
	"github.com/qs-promoter/qs-promoter/store"
)

const childEnv = "QSP_DAEMON_CHILD_CONFIG"

// TestDaemonChildProcess is not a test: it is the daemon run as a separate
// process by TestCrashMidPromotionResumes (which re-executes the test
// binary), so that it can be killed for real.
func TestDaemonChildProcess(t *testing.T) {
	path := os.Getenv(childEnv)
	if path == "" {
		t.Skip("only runs as the child of TestCrashMidPromotionResumes")
	}
	// As main does: a SIGTERM while the daemon starts is a stop, not the
	// end of the process (a test may stop a child that is still opening).
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	opts := []Option{WithLogger(slog.New(slog.NewTextHandler(os.Stderr, nil))), WithPollInterval(50 * time.Millisecond)}
	opts = append(opts, childKnobs(t, cfg)...)
	d, err := New(cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Run(ctx); err != nil {
		t.Fatal(err)
	}
}

// The daemon is killed (SIGKILL) between the promote step and the next one;
// restarted, it resumes the same execution: promote is not run again (no
// duplicate on the target), the remaining step runs, the source is intact.
func TestCrashMidPromotionResumes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the daemon as a subprocess")
	}
	h := newHarness(t)
	cfgPath := h.writeConfig()
	src := appByName(t, h.dev, "Sales Dashboard")
	srcContent, _ := h.dev.Content(src.ID)

	startChild := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^TestDaemonChildProcess$", "-test.v")
		cmd.Env = append(os.Environ(), childEnv+"="+cfgPath)
		cmd.Stdout, cmd.Stderr = testWriter{t}, testWriter{t}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		return cmd
	}
	subscribed := func() bool { return len(h.dev.Subscriptions()) == len(subscriptions) }

	child := startChild()
	waitFor(t, 30*time.Second, "the child to subscribe", subscribed)
	// Slow dev down so that the step after promote (a GET and a PUT on
	// dev) is still running when the kill comes.
	h.dev.SetFaults(qrssim.Faults{Latency: 300 * time.Millisecond})
	h.setProps(src.ID, map[string][]string{"PromoteToServer": {"test - Duplicate"}, "PromoteToStream": {"Sales", "Everyone"}, "PromotionApproval": {"Approve"}})

	var execID string
	waitFor(t, 30*time.Second, "the promote step to finish", func() bool {
		for _, l := range auditLinesIfAny(h.dir) {
			if l["type"] == "step" && l["step"] == "promote" && l["status"] == "done" && l["app_id"] == src.ID {
				execID, _ = l["execution_id"].(string)
				return true
			}
		}
		return false
	})
	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()
	for _, l := range auditLinesIfAny(h.dir) {
		if l["execution_id"] == execID && (l["step"] == "strip" || l["type"] == "decision") {
			t.Fatalf("the kill came too late (the execution went on: %v); the test proves nothing", l)
		}
	}
	if n := len(appsNamed(h.test, "Sales Dashboard", "")); n != 2 {
		t.Fatalf("after the crash test holds %d copies, want 2 (Sales, Everyone)", n)
	}
	h.dev.SetFaults(qrssim.Faults{})

	child = startChild()
	var resumed bool
	waitFor(t, 30*time.Second, "the execution to complete after the restart", func() bool {
		done := false
		for _, l := range auditLinesIfAny(h.dir) {
			if l["execution_id"] != execID {
				continue
			}
			if l["step"] == "promote" && l["resumed"] == true {
				resumed = true
			}
			if l["type"] == "decision" && l["outcome"] == OutcomeActed {
				done = true
			}
		}
		return done
	})
	if !resumed {
		t.Error("promote ran again instead of being resumed from its checkpoint")
	}
	for _, stream := range []string{"Sales", "Everyone"} {
		if n := len(appsNamed(h.test, "Sales Dashboard", stream)); n != 1 {
			t.Errorf("test holds %d copies in %s, want 1", n, stream)
		}
	}
	after, ok := h.dev.App(src.ID)
	content, _ := h.dev.Content(src.ID)
	if !ok || !after.Published || content.Hash != srcContent.Hash || len(after.PropertyValues("PromotionApproval")) != 0 {
		t.Errorf("source after the resumed execution: exists=%v published=%v content=%v approval=%v",
			ok, after.Published, content.Hash == srcContent.Hash, after.PropertyValues("PromotionApproval"))
	}

	// A graceful stop unsubscribes.
	if err := child.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := child.Wait(); err != nil {
		t.Errorf("child exit: %v", err)
	}
	if n := len(h.dev.Subscriptions()); n != 0 {
		t.Errorf("%d subscriptions left after SIGTERM", n)
	}
}

// auditLinesIfAny reads the audit log, skipping what cannot be read yet
// (the file missing, a line being written).
func auditLinesIfAny(dir string) []map[string]any {
	b, _ := os.ReadFile(filepath.Join(dir, "data", "audit", "audit.log"))
	var out []map[string]any
	for _, l := range strings.Split(string(b), "\n") {
		m := map[string]any{}
		if json.Unmarshal([]byte(l), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// startChild runs the daemon on cfgPath as a process of its own (the test
// binary's TestDaemonChildProcess), to be killed for real.
func startChild(t *testing.T, cfgPath string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestDaemonChildProcess$", "-test.v")
	cmd.Env = append(os.Environ(), childEnv+"="+cfgPath)
	cmd.Stdout, cmd.Stderr = testWriter{t}, testWriter{t}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}

// crashPolicy promotes an approved app to its target sites and streams,
// then unpublishes it back to its owner: two steps with side effects on
// three sites, each of which a kill may interrupt.
const crashPolicy = `policies:
  - name: promote-approved
    on: [updated, reconciled]
    when: >
      app.published
      and lower(first(app.properties.PromotionApproval)) contains "approve"
      and len(targets(app.properties.PromoteToServer)) > 0
      and len(app.properties.PromoteToStream) > 0
    steps:
      - id: promote
        action: promote
        with:
          targets: "{{ targets(app.properties.PromoteToServer) }}"
          streams: "{{ app.properties.PromoteToStream }}"
      - id: unpublish
        action: unpublish
`

// crashRuns is how many kills TestKilledAtRandomMomentsEndsExactlyRight
// makes: QSP_CRASH_RUNS (20 for the count), else 3.
func crashRuns(t *testing.T) int {
	v := os.Getenv("QSP_CRASH_RUNS")
	if v == "" {
		return 3
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("QSP_CRASH_RUNS=%q: want a positive whole number", v)
	}
	return n
}

// crashRig is one promotion of "Sales Dashboard" from dev to test and prod
// (Duplicate, streams Sales and Everyone) by a daemon in a process of its
// own, and what it must end as.
type crashRig struct {
	h       *harness
	cfgPath string
	src     qrs.App
	content string // the source's content hash
}

func newCrashRig(t *testing.T) *crashRig {
	h := newHarnessWithProd(t)
	if err := os.WriteFile(filepath.Join(h.dir, "policies", "20-approval.yaml"), []byte(crashPolicy), 0o644); err != nil {
		t.Fatal(err)
	}
	r := &crashRig{h: h, cfgPath: h.writeConfig(), src: appByName(t, h.dev, "Sales Dashboard")}
	c, _ := h.dev.Content(r.src.ID)
	r.content = c.Hash
	return r
}

// approve starts the promotion: a reviewer's save, as in the QMC.
func (r *crashRig) approve() {
	r.h.setProps(r.src.ID, map[string][]string{"PromotionApproval": {"Approve"},
		"PromoteToServer": {"test - Duplicate", "prod - Duplicate"}, "PromoteToStream": {"Sales", "Everyone"}})
}

// problems says what is not (yet) exactly right: one copy in each target
// stream holding the source's content, no temporary app anywhere, the
// source unpublished back to its owner as one copy.
func (r *crashRig) problems() []string {
	var out []string
	for _, site := range []*qrssim.Site{r.h.test, r.h.prod} {
		for _, stream := range []string{"Sales", "Everyone"} {
			apps := appsNamed(site, "Sales Dashboard", stream)
			if len(apps) != 1 {
				out = append(out, fmt.Sprintf("%s holds %d copies in %s", site.Alias(), len(apps), stream))
			}
			for _, a := range apps {
				if c, _ := site.Content(a.ID); c.Hash != r.content {
					out = append(out, fmt.Sprintf("%s: the copy in %s does not hold the source's content", site.Alias(), stream))
				}
			}
		}
		if n := len(appsNamed(site, "Sales Dashboard", "")); n != 2 {
			out = append(out, fmt.Sprintf("%s holds %d apps named Sales Dashboard, want 2", site.Alias(), n))
		}
	}
	for _, site := range []*qrssim.Site{r.h.dev, r.h.test, r.h.prod} {
		for _, a := range site.Apps() {
			if strings.HasPrefix(a.Name, "~qs-promoter ") {
				out = append(out, fmt.Sprintf("%s: temporary app %q left", site.Alias(), a.Name))
			}
		}
	}
	if _, ok := r.h.dev.App(r.src.ID); ok {
		out = append(out, "dev: the source is still there")
	}
	copies := appsNamed(r.h.dev, "Sales Dashboard", "")
	if len(copies) != 1 || copies[0].Published || copies[0].Owner.UserID != "sales_rep" {
		out = append(out, fmt.Sprintf("dev: %d apps named Sales Dashboard, want one unpublished copy owned by sales_rep", len(copies)))
	} else if c, _ := r.h.dev.Content(copies[0].ID); c.Hash != r.content {
		out = append(out, "dev: the owner's copy does not hold the source's content")
	}
	return out
}

// moment says where the app's execution was when the daemon died, from
// the state database: "before" it began (the notification may not even
// have been recorded), "mid" (running, with n step journal entries and
// checkpoints) or "after" (acted).
func (r *crashRig) moment() string {
	db, err := sql.Open("sqlite", "file:"+filepath.ToSlash(filepath.Join(r.h.dir, "data", store.DBFile))+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		return "unknown: " + err.Error()
	}
	defer db.Close()
	var id, state string
	err = db.QueryRow(`SELECT id, state FROM qsp_execution WHERE app_id = ? ORDER BY started_at LIMIT 1`, r.src.ID).Scan(&id, &state)
	switch {
	case errors.Is(err, sql.ErrNoRows) || (err != nil && strings.Contains(err.Error(), "no such table")):
		return "before"
	case err != nil:
		return "unknown: " + err.Error()
	case state == OutcomeActed:
		return "after"
	}
	var done int
	_ = db.QueryRow(`SELECT (SELECT count(*) FROM qsp_journal WHERE execution_id = ?) + (SELECT count(*) FROM qsp_checkpoint WHERE execution_id = ?)`, id, id).Scan(&done)
	return fmt.Sprintf("mid (%s, %d journal entries and checkpoints)", state, done)
}

// kill -9 of serve at random moments of a two-site promotion, restarted
// each time: every run ends exactly right. The moments are drawn over the
// promotion's own length, measured first without a kill.
func TestKilledAtRandomMomentsEndsExactlyRight(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the daemon as a subprocess")
	}
	runs := crashRuns(t)
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 1))
	// Each request takes a little longer, so that the promotion spans
	// enough time for the kills to land inside it.
	const latency = 5 * time.Millisecond

	var length time.Duration
	t.Run("measure", func(t *testing.T) {
		r := newCrashRig(t)
		child := startChild(t, r.cfgPath)
		waitFor(t, 30*time.Second, "the child to subscribe", func() bool { return len(r.h.dev.Subscriptions()) == len(subscriptions) })
		for _, s := range []*qrssim.Site{r.h.dev, r.h.test, r.h.prod} {
			s.SetFaults(qrssim.Faults{Latency: latency})
		}
		began := time.Now()
		r.approve()
		waitFor(t, 60*time.Second, "the promotion", func() bool { return r.moment() == "after" })
		length = time.Since(began)
		if p := r.problems(); len(p) > 0 {
			t.Errorf("without a kill: %s", strings.Join(p, "; "))
		}
		_ = child.Process.Signal(syscall.SIGTERM)
		_ = child.Wait()
	})
	if t.Failed() {
		return
	}
	t.Logf("a promotion takes %s; %d kills drawn over it (seed %d)", length.Round(time.Millisecond), runs, seed)

	moments := map[string]int{}
	passed := 0
	for i := range runs {
		at := time.Duration(rng.Int64N(int64(length)))
		t.Run(fmt.Sprintf("kill=%d", i+1), func(t *testing.T) {
			r := newCrashRig(t)
			child := startChild(t, r.cfgPath)
			waitFor(t, 30*time.Second, "the child to subscribe", func() bool { return len(r.h.dev.Subscriptions()) == len(subscriptions) })
			for _, s := range []*qrssim.Site{r.h.dev, r.h.test, r.h.prod} {
				s.SetFaults(qrssim.Faults{Latency: latency})
			}
			r.approve()
			time.Sleep(at)
			if err := child.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			_ = child.Wait()
			m := r.moment()
			moments[strings.Fields(m)[0]]++
			t.Logf("killed %s after the approval: %s", at.Round(time.Millisecond), m)

			child = startChild(t, r.cfgPath)
			var last []string
			waitFor(t, 60*time.Second, "the promotion to end exactly right after the restart", func() bool {
				last = r.problems()
				return len(last) == 0 && r.moment() == "after"
			})
			// Nothing more comes: no second copy, no second unpublish.
			time.Sleep(500 * time.Millisecond)
			if p := r.problems(); len(p) > 0 {
				t.Errorf("after settling: %s", strings.Join(p, "; "))
			}
			if err := child.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if err := child.Wait(); err != nil {
				t.Errorf("child exit: %v", err)
			}
			if !t.Failed() {
				passed++
			}
		})
	}
	t.Logf("%d of %d killed runs ended exactly right", passed, runs)
	t.Logf("kills landed %d times before the execution began, %d times mid-execution, %d times after it", moments["before"], moments["mid"], moments["after"])
	if runs >= 10 && moments["mid"] == 0 {
		t.Error("no kill landed mid-execution: the test proved little")
	}
}
