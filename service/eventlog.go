package service

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// EventLogHandler passes every record to next and also writes those at
// level error to the event log, as one line of text (message and
// attributes, without time and level, which the event log has itself).
// A record the event log refuses is still in next. The same text again
// within eventRepeatAfter is not written again (a site down for an hour
// fails every health check; the log has each one).
func EventLogHandler(next slog.Handler, el EventLog) slog.Handler {
	f := &eventFormatter{now: time.Now, written: map[string]time.Time{}}
	f.text = slog.NewTextHandler(&f.buf, &slog.HandlerOptions{ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == slog.LevelKey) {
			return slog.Attr{}
		}
		return a
	}})
	return &eventLogHandler{next: next, el: el, f: f, text: f.text}
}

const eventRepeatAfter = 15 * time.Minute

// eventFormatter is shared by a handler and those derived from it: one
// buffer, one record at a time, and when each text was last written.
type eventFormatter struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	text    slog.Handler
	now     func() time.Time
	written map[string]time.Time
}

// fresh says whether msg was not written within eventRepeatAfter, and
// notes it as written now.
func (f *eventFormatter) fresh(msg string) bool {
	now := f.now()
	if at, ok := f.written[msg]; ok && now.Sub(at) < eventRepeatAfter {
		return false
	}
	if len(f.written) >= 256 {
		for k, at := range f.written {
			if now.Sub(at) >= eventRepeatAfter {
				delete(f.written, k)
			}
		}
	}
	f.written[msg] = now
	return true
}

type eventLogHandler struct {
	next slog.Handler
	el   EventLog
	f    *eventFormatter
	text slog.Handler // f.text with this handler's attributes and groups
}

func (h *eventLogHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelError || h.next.Enabled(ctx, l)
}

func (h *eventLogHandler) Handle(ctx context.Context, r slog.Record) error {
	var err error
	if h.next.Enabled(ctx, r.Level) {
		err = h.next.Handle(ctx, r)
	}
	if r.Level >= slog.LevelError {
		h.f.mu.Lock()
		h.f.buf.Reset()
		_ = h.text.Handle(ctx, r)
		msg := strings.TrimRight(h.f.buf.String(), "\n")
		fresh := h.f.fresh(msg)
		h.f.mu.Unlock()
		if fresh {
			_ = h.el.Error(EventError, msg)
		}
	}
	return err
}

func (h *eventLogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &eventLogHandler{next: h.next.WithAttrs(as), el: h.el, f: h.f, text: h.text.WithAttrs(as)}
}

func (h *eventLogHandler) WithGroup(name string) slog.Handler {
	return &eventLogHandler{next: h.next.WithGroup(name), el: h.el, f: h.f, text: h.text.WithGroup(name)}
}
