package daemon

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestAuditRotatesBySizeAndKeepsN(t *testing.T) {
	dir := t.TempDir()
	a, err := openAudit(dir, 200, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	for i := range 20 {
		if err := a.Write(map[string]any{"n": i, "pad": strings.Repeat("x", 50)}); err != nil {
			t.Fatal(err)
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "audit.log*"))
	if len(files) != 3 {
		t.Fatalf("files %v, want audit.log and 2 rotated", files)
	}
	for _, f := range files {
		if st, _ := os.Stat(f); st.Size() > 200 {
			t.Errorf("%s is %d bytes, over the limit", f, st.Size())
		}
	}
	b, _ := os.ReadFile(filepath.Join(dir, "audit.log"))
	if !strings.Contains(string(b), `"n":19`) {
		t.Errorf("the newest record is not in audit.log: %s", b)
	}
}

func TestAuditWriteErrorIsReported(t *testing.T) {
	dir := t.TempDir()
	a, err := openAudit(dir, 1<<20, 2)
	if err != nil {
		t.Fatal(err)
	}
	a.f.Close() // the file goes away under the writer (disk gone, permissions…)
	if err := a.Write(map[string]any{"x": 1}); err == nil || a.Err() == nil {
		t.Fatal("a failed write must be reported and kept for readiness")
	}
	if err := a.Write(map[string]any{"x": 2}); err != nil || a.Err() != nil {
		t.Fatalf("after recovery: %v / %v", err, a.Err())
	}
}

// A record the audit log could not take is kept in the daemon's log, so it
// is never lost, only misplaced.
func TestUnwrittenAuditRecordGoesToTheLog(t *testing.T) {
	a, err := openAudit(t.TempDir(), 1<<20, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	var logged bytes.Buffer
	d := &Daemon{audit: a, metrics: newMetrics(), log: slog.New(slog.NewJSONHandler(&logged, nil)), now: time.Now}
	a.f.Close()
	d.writeAudit(auditDecision{Type: "decision", ExecutionID: "exec-1", Outcome: OutcomeActed})
	if !strings.Contains(logged.String(), "exec-1") || !strings.Contains(logged.String(), OutcomeActed) {
		t.Fatalf("the unwritten record is not in the log: %s", logged.String())
	}
}
