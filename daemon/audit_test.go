package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
