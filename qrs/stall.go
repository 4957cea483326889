package qrs

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// StallError is a content transfer (an upload, a download, a long list) cut
// off because no byte moved for After. A transfer that moves, however
// slowly, is never cut off: over a slow link shared by many transfers, a
// total-time limit would cut the big ones that are doing fine. It is
// transient: the caller may try again.
type StallError struct{ After time.Duration }

func (e *StallError) Error() string {
	return fmt.Sprintf("no data moved for %s (the transfer stalled)", e.After)
}

// stallWatch cancels a transfer's context when it has not progressed for d.
type stallWatch struct {
	d      time.Duration
	ctx    context.Context
	cancel context.CancelCauseFunc
	mu     sync.Mutex
	timer  *time.Timer
	done   bool
}

func newStallWatch(ctx context.Context, d time.Duration) *stallWatch {
	w := &stallWatch{d: d}
	w.ctx, w.cancel = context.WithCancelCause(ctx)
	w.timer = time.AfterFunc(d, func() { w.cancel(&StallError{After: d}) })
	return w
}

// moved restarts the clock: bytes moved.
func (w *stallWatch) moved() {
	w.mu.Lock()
	if !w.done {
		w.timer.Reset(w.d)
	}
	w.mu.Unlock()
}

// pause stops the clock until the next move (an upload's body is sent: the
// server's answer is bounded by the response timeout).
func (w *stallWatch) pause() { w.timer.Stop() }

// stop ends the watch and releases its context.
func (w *stallWatch) stop() {
	w.mu.Lock()
	w.done = true
	w.timer.Stop()
	w.mu.Unlock()
	w.cancel(nil)
}

// stalled returns the StallError once the watch has fired, nil before.
func (w *stallWatch) stalled() *StallError {
	if se, ok := context.Cause(w.ctx).(*StallError); ok {
		return se
	}
	return nil
}

// watchedStream is an upload's body under a watch.
type watchedStream struct {
	r     io.Reader
	w     *stallWatch
	count func(int) // app content sent (metrics); may be nil
}

func (s *watchedStream) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if n > 0 {
		s.w.moved()
		if s.count != nil {
			s.count(n)
		}
	}
	if err == io.EOF {
		s.w.pause()
	}
	return n, err
}

// watchedBody is an answer's body under a watch; closing it ends the watch.
type watchedBody struct {
	body  io.ReadCloser
	w     *stallWatch
	fail  func(*StallError) error
	count func(int) // app content received (metrics); may be nil
}

func (b *watchedBody) Read(p []byte) (int, error) {
	n, err := b.body.Read(p)
	if n > 0 {
		b.w.moved()
		if b.count != nil {
			b.count(n)
		}
	}
	if err != nil {
		// A cancelled body may end in a plain EOF: only the watch knows.
		if se := b.w.stalled(); se != nil {
			err = b.fail(se)
		}
	}
	return n, err
}

func (b *watchedBody) Close() error {
	err := b.body.Close()
	b.w.stop()
	return err
}

// transfer makes one attempt of a content call under a stall watch: it
// fails when no byte of the request body or of the answer moves for the
// stall timeout, however long it takes in all. The answer's body is left
// open; closing it ends the watch.
func (c *Client) transfer(ctx context.Context, k call) (*http.Response, error) {
	w := newStallWatch(ctx, c.conn.cfg.StallTimeout)
	stallErr := func(se *StallError) error {
		e := c.errorf(k, se)
		e.sent = true
		return e
	}
	// An upload's bytes are those sent (its answer is JSON); an
	// export's, those received.
	var down func(int)
	if k.stream != nil {
		k.stream = &watchedStream{r: k.stream, w: w, count: c.moved(k, "upload")}
	} else {
		down = c.moved(k, "download")
	}
	resp, err := c.attempt(w.ctx, k)
	if err != nil {
		w.stop()
		if se := w.stalled(); se != nil && ctx.Err() == nil {
			return nil, stallErr(se)
		}
		return nil, err
	}
	w.moved() // the answer's headers came
	resp.Body = &watchedBody{body: resp.Body, w: w, fail: stallErr, count: down}
	return resp, nil
}

// moved returns the counter of app content moving in one direction for
// SiteConfig.Moved (nil when unset, or for a call that moves no app).
func (c *Client) moved(k call, direction string) func(int) {
	obs := c.conn.cfg.Moved
	if obs == nil || !k.app {
		return nil
	}
	site := c.conn.cfg.Alias
	return func(n int) { obs(site, direction, n) }
}
