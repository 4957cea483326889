package daemon

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/qs-promoter/qs-promoter/qrs/qrssim"
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
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
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
