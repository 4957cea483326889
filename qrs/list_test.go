package qrs_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qs-promoter/qs-promoter/qrs"
)

// appList writes a JSON list of n apps, flushing after each, and stops
// (closing the connection) after cut apps when cut > 0.
func appList(w http.ResponseWriter, n, cut int) {
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, "[")
	for i := range n {
		if cut > 0 && i == cut {
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler) // the connection drops mid-list
		}
		if i > 0 {
			io.WriteString(w, ",")
		}
		fmt.Fprintf(w, `{"id":"00000000-0000-4000-8000-%012d","name":"App %d","modifiedDate":"2026-01-01T00:00:%02d.000Z"}`, i, i, i%60)
		w.(http.Flusher).Flush()
	}
	io.WriteString(w, "]")
}

func TestEachAppStreams(t *testing.T) {
	ctx := context.Background()
	t.Run("every app once, in order, while the answer arrives", func(t *testing.T) {
		c, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) { appList(w, 500, 0) }, nil)
		n := 0
		err := c.EachApp(ctx, nil, func(a *qrs.App) error {
			if a.Name != fmt.Sprintf("App %d", n) {
				return fmt.Errorf("app %d is %q", n, a.Name)
			}
			n++
			return nil
		})
		if err != nil || n != 500 {
			t.Fatalf("%d apps, %v", n, err)
		}
	})
	t.Run("fn's error stops the listing and is returned as is", func(t *testing.T) {
		c, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) { appList(w, 500, 0) }, nil)
		stop := errors.New("enough")
		n := 0
		err := c.EachApp(ctx, nil, func(*qrs.App) error {
			n++
			if n == 3 {
				return stop
			}
			return nil
		})
		if err != stop || n != 3 {
			t.Fatalf("%d apps, %v", n, err)
		}
	})
	t.Run("cut off halfway: an error, not a short list", func(t *testing.T) {
		var calls atomic.Int32
		c, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
			calls.Add(1)
			appList(w, 500, 200)
		}, nil)
		n := 0
		err := c.EachApp(ctx, nil, func(*qrs.App) error { n++; return nil })
		if err == nil || !strings.Contains(err.Error(), "cut off after 200 entries") || !qrs.IsRetryable(err) {
			t.Fatalf("%d apps, err %v", n, err)
		}
		if calls.Load() != 1 {
			t.Errorf("listed %d times; apps already seen must not be shown again", calls.Load())
		}
	})
	t.Run("a failure before the first app is retried", func(t *testing.T) {
		var calls atomic.Int32
		c, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
			if calls.Add(1) == 1 {
				http.Error(w, "busy", http.StatusServiceUnavailable)
				return
			}
			appList(w, 10, 0)
		}, fastRetries)
		n := 0
		if err := c.EachApp(ctx, nil, func(*qrs.App) error { n++; return nil }); err != nil || n != 10 {
			t.Fatalf("%d apps, %v", n, err)
		}
	})
	t.Run("Apps lists again from the start after a cut", func(t *testing.T) {
		var calls atomic.Int32
		c, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
			if calls.Add(1) == 1 {
				appList(w, 50, 20)
				return
			}
			appList(w, 50, 0)
		}, fastRetries)
		apps, err := c.Apps(ctx, nil)
		if err != nil || len(apps) != 50 || apps[0].Name != "App 0" || apps[49].Name != "App 49" {
			t.Fatalf("%d apps, %v", len(apps), err)
		}
	})
	t.Run("not a list: a permanent error saying so", func(t *testing.T) {
		c, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"id":"x"}`) }, nil)
		err := c.EachApp(ctx, nil, func(*qrs.App) error { return nil })
		if err == nil || !strings.Contains(err.Error(), "not the expected JSON list") || qrs.IsRetryable(err) {
			t.Fatalf("err %v", err)
		}
		c, _ = newTestClient(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `[{"id":"x"} {"id":"y"}]`) }, nil)
		if _, err = c.Apps(ctx, nil); err == nil || !strings.Contains(err.Error(), "not the expected JSON") || qrs.IsRetryable(err) {
			t.Fatalf("bad JSON: err %v", err)
		}
	})
	t.Run("a list that stalls is cut off after the stall timeout", func(t *testing.T) {
		release := make(chan struct{})
		defer close(release)
		c, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `[{"id":"a"},`)
			w.(http.Flusher).Flush()
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}, func(c *qrs.SiteConfig) { c.StallTimeout = 200 * time.Millisecond; c.MaxAttempts = 1 })
		start := time.Now()
		err := c.EachApp(ctx, nil, func(*qrs.App) error { return nil })
		var se *qrs.StallError
		if !errors.As(err, &se) || !qrs.IsRetryable(err) {
			t.Fatalf("err %v, want a retryable StallError", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("cut off after %s", d)
		}
	})
}

func fastRetries(c *qrs.SiteConfig) { c.RetryBackoff = time.Millisecond }

// A transfer that keeps moving is never cut off, however long it takes in
// all; one that stops moving is, after the stall timeout, as a transient
// failure (the upload is not repeated blindly: the caller retries).
func TestTransferStall(t *testing.T) {
	ctx := context.Background()
	stall := func(c *qrs.SiteConfig) { c.StallTimeout = 150 * time.Millisecond; c.MaxAttempts = 1 }
	t.Run("download", func(t *testing.T) {
		release := make(chan struct{})
		defer close(release)
		c, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
			switch {
			case r.Method == http.MethodPost && strings.Contains(r.URL.Path, "/export/"):
				w.WriteHeader(http.StatusCreated)
				io.WriteString(w, `{"exportToken":"t","downloadPath":"/tempcontent/t/stuck.qvf"}`)
			case strings.HasPrefix(r.URL.Path, "/tempcontent/"):
				w.Header().Set("Content-Length", "1000")
				io.WriteString(w, "some")
				w.(http.Flusher).Flush()
				select {
				case <-release:
				case <-r.Context().Done():
				}
			case r.Method == http.MethodDelete:
				io.WriteString(w, `{"cancelled":true}`)
			}
		}, stall)
		d, err := c.ExportApp(ctx, appID, false)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		_, err = io.ReadAll(d)
		var se *qrs.StallError
		if !errors.As(err, &se) || !qrs.IsRetryable(err) || !strings.Contains(err.Error(), "no data moved for 150ms") {
			t.Fatalf("err %v, want a retryable StallError", err)
		}
	})
	t.Run("upload", func(t *testing.T) {
		c, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/qrs/app/full":
				io.WriteString(w, "[]")
			case "/qrs/app/upload":
				if _, err := io.Copy(io.Discard, r.Body); err != nil {
					panic(http.ErrAbortHandler) // cut off: no app, no answer
				}
				w.WriteHeader(http.StatusCreated)
				io.WriteString(w, `{"id":"new"}`)
			}
		}, func(c *qrs.SiteConfig) { c.StallTimeout = 400 * time.Millisecond; c.MaxAttempts = 1 })
		// Moving: 12 chunks 50ms apart, 600ms in all, over a 400ms stall timeout.
		if _, err := c.UploadApp(ctx, "slow", true, &slowReader{n: 12, pause: 50 * time.Millisecond}, -1); err != nil {
			t.Fatalf("a slow upload that moves: %v", err)
		}
		// Stuck: one chunk, then nothing for 1.2s.
		_, err := c.UploadApp(ctx, "stuck", true, io.MultiReader(strings.NewReader("chunk"), &slowReader{n: 1, pause: 1200 * time.Millisecond}), -1)
		var se *qrs.StallError
		if !errors.As(err, &se) || !qrs.IsRetryable(err) {
			t.Fatalf("err %v, want a retryable StallError", err)
		}
	})
}
