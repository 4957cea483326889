package daemon

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// TestOnReadyCalledOnceWhenServing: the readiness hook a service manager
// waits for runs once, when the listener already answers.
func TestOnReadyCalledOnceWhenServing(t *testing.T) {
	h := newHarness(t)
	cfg, err := LoadConfig(h.writeConfig())
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	answered := make(chan int, 1)
	d, err := New(cfg, WithLogger(discardLogger()), OnReady(func() {
		if calls.Add(1) > 1 {
			return
		}
		// Called from Run: the listener must serve already, or a service
		// manager told "ready" would send traffic to a port nobody reads.
		c := http.Client{Timeout: 5 * time.Second}
		resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", h.port))
		if err != nil {
			answered <- 0
			return
		}
		resp.Body.Close()
		answered <- resp.StatusCode
	}))
	if err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 0 {
		t.Fatal("OnReady ran in New, before Run")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	select {
	case code := <-answered:
		if code != http.StatusOK {
			t.Errorf("GET /healthz from the ready hook: status %d, want 200", code)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("OnReady was not called within 20s")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("OnReady called %d times, want 1", n)
	}
}
