package service

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeDaemon stands in for *daemon.Daemon: Run calls the readiness hook
// once started is closed, then serves until its context ends and drains
// for drain.
type fakeDaemon struct {
	ready     func()
	started   chan struct{} // closed: become ready
	drain     time.Duration
	runErr    error      // returned by Run after ctx ends
	fail      chan error // an error here ends Run without a stop (a listener failure)
	reloadErr error
	reloading chan struct{} // if set, Reload waits for it
	reloads   atomic.Int32
	stopped   atomic.Bool // Run saw its context end
}

func newFakeDaemon() *fakeDaemon {
	return &fakeDaemon{started: make(chan struct{}), fail: make(chan error, 1)}
}

func (f *fakeDaemon) Addr() string { return "127.0.0.1:5000" }

func (f *fakeDaemon) Run(ctx context.Context) error {
	select {
	case <-f.started:
		f.ready()
	case <-ctx.Done():
		f.stopped.Store(true)
		return f.runErr
	case err := <-f.fail:
		return err
	}
	select {
	case <-ctx.Done():
		f.stopped.Store(true)
		time.Sleep(f.drain)
		return f.runErr
	case err := <-f.fail:
		return err
	}
}

func (f *fakeDaemon) Reload() error {
	f.reloads.Add(1)
	if f.reloading != nil {
		<-f.reloading
	}
	return f.reloadErr
}

// recorder is a Reporter and an EventLog that keeps what it was told.
type recorder struct {
	mu       sync.Mutex
	statuses []Status
	events   []string
	changed  chan struct{}
}

func newRecorder() *recorder { return &recorder{changed: make(chan struct{}, 1000)} }

func (r *recorder) Report(s Status) {
	r.mu.Lock()
	r.statuses = append(r.statuses, s)
	r.mu.Unlock()
	r.changed <- struct{}{}
}

func (r *recorder) event(kind string, eid uint32, msg string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, fmt.Sprintf("%s %d %s", kind, eid, msg))
	return nil
}
func (r *recorder) Info(eid uint32, msg string) error    { return r.event("info", eid, msg) }
func (r *recorder) Warning(eid uint32, msg string) error { return r.event("warning", eid, msg) }
func (r *recorder) Error(eid uint32, msg string) error   { return r.event("error", eid, msg) }

// states returns the reported states in order, repeats collapsed.
func (r *recorder) states() []State {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []State
	for _, s := range r.statuses {
		if len(out) == 0 || out[len(out)-1] != s.State {
			out = append(out, s.State)
		}
	}
	return out
}

func (r *recorder) count(st State) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, s := range r.statuses {
		if s.State == st {
			n++
		}
	}
	return n
}

func (r *recorder) last() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.statuses) == 0 {
		return Status{}
	}
	return r.statuses[len(r.statuses)-1]
}

func (r *recorder) waitCount(t *testing.T, st State, n int) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for r.count(st) < n {
		select {
		case <-r.changed:
		case <-deadline:
			t.Fatalf("waited 10s for %d reports of %s; states so far %v", n, st, r.states())
		}
	}
}

func (r *recorder) wait(t *testing.T, st State) { t.Helper(); r.waitCount(t, st, 1) }

// serveWith is a ServeFunc that runs d as `serve` does.
func serveWith(d *fakeDaemon) ServeFunc {
	return func(ctx context.Context, s *Session) error {
		d.ready = s.Ready
		return s.Run(ctx, d)
	}
}

type run struct {
	reqs chan Request
	done chan error
	rec  *recorder
}

func start(t *testing.T, ctx context.Context, c *Control, serve ServeFunc) *run {
	t.Helper()
	r := &run{reqs: make(chan Request), done: make(chan error, 1), rec: newRecorder()}
	c.Reporter, c.EventLog = r.rec, r.rec
	go func() { r.done <- c.Run(ctx, r.reqs, serve) }()
	return r
}

func (r *run) send(t *testing.T, req Request) {
	t.Helper()
	select {
	case r.reqs <- req:
	case <-time.After(5 * time.Second):
		t.Fatalf("Control did not take the %s request", req)
	}
}

func (r *run) result(t *testing.T) error {
	t.Helper()
	select {
	case err := <-r.done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Control.Run did not return within 10s")
		return nil
	}
}

func equalStates(a, b []State) bool {
	return fmt.Sprint(a) == fmt.Sprint(b)
}

func TestControlStartReadyStop(t *testing.T) {
	for _, req := range []Request{Stop, Shutdown} {
		t.Run(req.String(), func(t *testing.T) {
			d := newFakeDaemon()
			r := start(t, context.Background(), &Control{}, serveWith(d))
			r.rec.wait(t, Starting)
			if r.rec.count(Running) != 0 {
				t.Fatal("Running reported before the daemon was ready")
			}
			close(d.started)
			r.rec.wait(t, Running)
			if got := r.rec.last().Message; got != "serving on 127.0.0.1:5000" {
				t.Errorf("running message %q", got)
			}
			r.send(t, req)
			if err := r.result(t); err != nil {
				t.Fatal(err)
			}
			if !d.stopped.Load() {
				t.Error("the daemon's context was not cancelled")
			}
			if want := []State{Starting, Running, Stopping, Stopped}; !equalStates(r.rec.states(), want) {
				t.Errorf("states %v, want %v", r.rec.states(), want)
			}
			want := "info 1 qs-promoter started: serving on 127.0.0.1:5000\ninfo 2 qs-promoter stopped"
			if got := strings.Join(r.rec.events, "\n"); got != want {
				t.Errorf("event log:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// A terminal's Ctrl-C and systemd's SIGTERM end the context: the same stop.
func TestControlContextEndIsStop(t *testing.T) {
	d := newFakeDaemon()
	close(d.started)
	ctx, cancel := context.WithCancel(context.Background())
	r := start(t, ctx, &Control{}, serveWith(d))
	r.rec.wait(t, Running)
	cancel()
	if err := r.result(t); err != nil {
		t.Fatal(err)
	}
	if want := []State{Starting, Running, Stopping, Stopped}; !equalStates(r.rec.states(), want) {
		t.Errorf("states %v, want %v", r.rec.states(), want)
	}
}

func TestControlReload(t *testing.T) {
	d := newFakeDaemon()
	close(d.started)
	r := start(t, context.Background(), &Control{}, serveWith(d))
	r.rec.wait(t, Running)
	r.send(t, Reload)
	r.rec.waitCount(t, Running, 2)
	if d.reloads.Load() != 1 {
		t.Errorf("%d reloads, want 1", d.reloads.Load())
	}
	if st := r.rec.last(); st.Err != nil || st.Message != "serving on 127.0.0.1:5000" {
		t.Errorf("after a good reload: %+v", st)
	}

	d.reloadErr = errors.New("policies/approval.yaml:3:7: unknown fact\n  (and one more)")
	r.send(t, Reload)
	r.rec.waitCount(t, Running, 3)
	st := r.rec.last()
	if st.Err != d.reloadErr || st.Message != "policy reload failed, the previous policies stay in force: policies/approval.yaml:3:7: unknown fact (and one more)" {
		t.Errorf("after a failed reload: %+v", st)
	}
	r.send(t, Stop)
	if err := r.result(t); err != nil {
		t.Fatal(err)
	}
	want := []State{Starting, Running, Reloading, Running, Reloading, Running, Stopping, Stopped}
	if !equalStates(r.rec.states(), want) {
		t.Errorf("states %v, want %v", r.rec.states(), want)
	}
}

// Reloads asked while one runs are merged into one more: it reads the
// newest files anyway.
func TestControlReloadsCoalesce(t *testing.T) {
	d := newFakeDaemon()
	close(d.started)
	d.reloading = make(chan struct{})
	r := start(t, context.Background(), &Control{}, serveWith(d))
	r.rec.wait(t, Running)
	r.send(t, Reload)
	r.rec.wait(t, Reloading)
	for range 5 {
		r.send(t, Reload)
	}
	// Control handles requests in order: once the Interrogate is answered,
	// the five reloads were merged.
	r.send(t, Interrogate)
	r.rec.waitCount(t, Reloading, 2)
	close(d.reloading)
	r.rec.waitCount(t, Running, 3) // ready, after the first reload, after the merged one
	r.send(t, Stop)
	if err := r.result(t); err != nil {
		t.Fatal(err)
	}
	if n := d.reloads.Load(); n != 2 {
		t.Errorf("%d reloads for 1 + 5 requests during the first, want 2; states %v", n, r.rec.states())
	}
}

// Pause is refused: the state stays Running and is reported again, as for
// Interrogate.
func TestControlPauseRefusedInterrogateAnswered(t *testing.T) {
	d := newFakeDaemon()
	close(d.started)
	r := start(t, context.Background(), &Control{}, serveWith(d))
	r.rec.wait(t, Running)
	for i, req := range []Request{Pause, Interrogate, Continue} {
		r.send(t, req)
		r.rec.waitCount(t, Running, 2+i)
	}
	if d.stopped.Load() {
		t.Fatal("pause stopped the daemon")
	}
	r.send(t, Stop)
	if err := r.result(t); err != nil {
		t.Fatal(err)
	}
	if want := []State{Starting, Running, Stopping, Stopped}; !equalStates(r.rec.states(), want) {
		t.Errorf("states %v, want %v", r.rec.states(), want)
	}
}

// A bad configuration: serve fails before Run; the manager hears Stopped
// with the error, and the event log has it.
func TestControlServeFailsBeforeReady(t *testing.T) {
	bad := errors.New(`qs-promoter.yaml:2:3: sites[0]: host is required`)
	r := start(t, context.Background(), &Control{Name: "qsp"}, func(ctx context.Context, s *Session) error { return bad })
	if err := r.result(t); err != bad {
		t.Fatalf("Run returned %v, want the serve error", err)
	}
	if want := []State{Starting, Stopped}; !equalStates(r.rec.states(), want) {
		t.Errorf("states %v, want %v", r.rec.states(), want)
	}
	if st := r.rec.last(); st.Err != bad {
		t.Errorf("Stopped carries %v", st.Err)
	}
	if want := "error 3 qsp stopped: " + bad.Error(); len(r.rec.events) != 1 || r.rec.events[0] != want {
		t.Errorf("event log %q, want %q", r.rec.events, want)
	}
}

// The daemon failing on its own (its listener died) ends Run with the error,
// so the manager restarts it (Windows recovery, systemd Restart=on-failure).
func TestControlDaemonFailure(t *testing.T) {
	d := newFakeDaemon()
	close(d.started)
	r := start(t, context.Background(), &Control{}, serveWith(d))
	r.rec.wait(t, Running)
	boom := errors.New("listener failed")
	d.fail <- boom
	if err := r.result(t); err != boom {
		t.Fatalf("Run returned %v", err)
	}
	if want := []State{Starting, Running, Stopped}; !equalStates(r.rec.states(), want) {
		t.Errorf("states %v, want %v", r.rec.states(), want)
	}
}

// A stop while starting: Stopping, and no Running afterwards even if the
// daemon becomes ready while it drains; a reload then is not passed on.
func TestControlStopWhileStarting(t *testing.T) {
	d := newFakeDaemon()
	gate := make(chan struct{})
	serve := func(ctx context.Context, s *Session) error {
		<-gate // still building the daemon when the stop comes
		s.Ready()
		d.ready = s.Ready
		return s.Run(ctx, d)
	}
	r := start(t, context.Background(), &Control{}, serve)
	r.rec.wait(t, Starting)
	r.send(t, Stop)
	r.rec.wait(t, Stopping)
	r.send(t, Reload)
	close(gate)
	if err := r.result(t); err != nil {
		t.Fatal(err)
	}
	if want := []State{Starting, Stopping, Stopped}; !equalStates(r.rec.states(), want) {
		t.Errorf("states %v, want %v", r.rec.states(), want)
	}
	if d.reloads.Load() != 0 {
		t.Error("a reload asked while stopping was run")
	}
}

// With a heartbeat, a long start and a long drain are reported again and
// again (the Windows SCM's progress); Running is not.
func TestControlHeartbeat(t *testing.T) {
	d := newFakeDaemon()
	d.drain = 300 * time.Millisecond
	r := start(t, context.Background(), &Control{Heartbeat: 20 * time.Millisecond}, serveWith(d))
	r.rec.waitCount(t, Starting, 3)
	close(d.started)
	r.rec.wait(t, Running)
	r.send(t, Stop)
	r.rec.waitCount(t, Stopping, 3)
	if err := r.result(t); err != nil {
		t.Fatal(err)
	}
	if n := r.rec.count(Running); n != 1 {
		t.Errorf("Running reported %d times, want once", n)
	}
	if want := []State{Starting, Running, Stopping, Stopped}; !equalStates(r.rec.states(), want) {
		t.Errorf("states %v, want %v", r.rec.states(), want)
	}
}

// Without a Reporter or EventLog (a terminal) Control still stops and
// reloads.
func TestControlWithoutManager(t *testing.T) {
	d := newFakeDaemon()
	close(d.started)
	reqs := make(chan Request)
	done := make(chan error, 1)
	var c Control
	go func() { done <- c.Run(context.Background(), reqs, serveWith(d)) }()
	reqs <- Reload
	reqs <- Stop
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no stop")
	}
	if !d.stopped.Load() {
		t.Error("daemon not stopped")
	}
}
