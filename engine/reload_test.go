package engine

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const goodPolicy = `policies:
  - name: one
    on: [updated]
    steps: [{action: log, with: {message: "{{ app.name }}"}}]
`

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// goodReloader returns a Reloader of a folder holding goodPolicy in p.yaml.
func goodReloader(t *testing.T) (r *Reloader, dir, file string) {
	t.Helper()
	dir = t.TempDir()
	file = filepath.Join(dir, "p.yaml")
	if err := os.WriteFile(file, []byte(goodPolicy), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := NewReloader(dir, testOpts, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r, dir, file
}

func TestReloaderKeepsGoodSetAndPicksUpFixes(t *testing.T) {
	r, dir, file := goodReloader(t)
	first := r.Current()
	var hooks atomic.Int32
	r.OnReload(func(ReloadStatus) { hooks.Add(1) })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- r.Watch(ctx) }()
	// No wait for the watcher: an edit made before it watches is loaded
	// when it starts.

	// A bad edit, saved the way editors do (write elsewhere, rename over).
	bad := strings.Replace(goodPolicy, "app.name", "app.nam", 1)
	tmp := filepath.Join(dir, ".p.yaml.tmp")
	if err := os.WriteFile(tmp, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, file); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, "the bad edit is noticed", func() bool { return !r.Status().OK })
	st := r.Status()
	if r.Current() != first || st.Revision != first.Revision {
		t.Fatalf("a bad edit replaced the rule set")
	}
	if !strings.Contains(st.LastError, `p.yaml:4:51: app has no "nam"`) {
		t.Errorf("last error %q", st.LastError)
	}

	// A good edit replaces the set within a second.
	fixed := strings.Replace(goodPolicy, "one", "two", 1)
	start := time.Now()
	if err := os.WriteFile(file, []byte(fixed), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Second, "the fixed policy is loaded", func() bool { return r.Current().Policies[0].Name == "two" })
	t.Logf("reloaded in %v", time.Since(start))
	st = r.Status()
	if !st.OK || st.LastError != "" || st.Revision == first.Revision || st.Revision != r.Current().Revision {
		t.Errorf("status %+v", st)
	}
	if hooks.Load() < 2 {
		t.Errorf("OnReload hooks called %d times", hooks.Load())
	}
	// An execution that started with the old set still has it.
	if first.Policies[0].Name != "one" {
		t.Error("old rule set changed")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestReloaderExplicitAndInitialFailure(t *testing.T) {
	dir := t.TempDir()
	if _, err := NewReloader(dir+"/missing", testOpts, nil); err == nil {
		t.Fatal("missing folder loaded")
	}
	if err := os.WriteFile(filepath.Join(dir, "p.yaml"), []byte("policies: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := NewReloader(dir, testOpts, nil); err == nil {
		t.Fatal("bad initial set loaded")
	}
	if err := os.WriteFile(filepath.Join(dir, "p.yaml"), []byte(goodPolicy), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := NewReloader(dir, testOpts, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "q.yaml"), []byte("policies: 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := r.Reload(); err == nil || r.Status().OK || len(r.Current().Policies) != 1 {
		t.Fatalf("explicit reload of a bad set: %v %+v", err, r.Status())
	}
	if err := os.Remove(filepath.Join(dir, "q.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := r.Reload(); err != nil || !r.Status().OK {
		t.Fatalf("explicit reload: %v", err)
	}
}

// A folder that holds no policies for a moment (files being copied over,
// a file truncated before it is written) does not switch every policy off.
func TestReloaderKeepsPoliciesWhenTheFolderEmpties(t *testing.T) {
	r, _, file := goodReloader(t)
	first := r.Current()
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := r.Reload(); err == nil || !strings.Contains(err.Error(), "holds no policies now; keeping the 1 in use") || r.Current() != first || r.Status().OK {
		t.Fatalf("truncated file: %v, status %+v", err, r.Status())
	}
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	if err := r.Reload(); err == nil || r.Current() != first {
		t.Fatalf("emptied folder: %v", err)
	}
	if err := os.WriteFile(file, []byte(goodPolicy), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := r.Reload(); err != nil || !r.Status().OK {
		t.Fatalf("reload after the files are back: %v", err)
	}
}

// An edit saved after the first load but before the watcher started raised
// no event the watcher saw: Watch loads it when it starts.
func TestWatchLoadsAnEditMadeBeforeItStarted(t *testing.T) {
	r, _, file := goodReloader(t)
	first := r.Current()
	if err := os.WriteFile(file, []byte(strings.Replace(goodPolicy, "one", "two", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = r.Watch(ctx) }()
	waitFor(t, 2*time.Second, "the edit made before Watch is loaded", func() bool { return r.Current().Policies[0].Name == "two" })
	if r.Current().Revision == first.Revision {
		t.Error("same revision after an edit")
	}
}
