package service

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestEventLogHandlerWritesErrorsOnly(t *testing.T) {
	var out bytes.Buffer
	rec := newRecorder()
	log := slog.New(EventLogHandler(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelInfo}), rec))
	log.Debug("not logged at info level")
	log.Info("serving", "listen", ":5000")
	log.Warn("site down", "site", "test")
	site := log.With("site", "dev").WithGroup("qrs")
	site.Error("subscribe failed", "err", errors.New("connection refused"), "status", 0)
	log.Error("listener failed", "err", "address in use")

	want := []string{
		`error 100 msg="subscribe failed" site=dev qrs.err="connection refused" qrs.status=0`,
		`error 100 msg="listener failed" err="address in use"`,
	}
	if strings.Join(rec.events, "\n") != strings.Join(want, "\n") {
		t.Errorf("event log:\n%s\nwant:\n%s", strings.Join(rec.events, "\n"), strings.Join(want, "\n"))
	}
	// Everything enabled still reaches the log itself.
	for _, s := range []string{"msg=serving", `msg="site down"`, `msg="subscribe failed" site=dev qrs.err="connection refused"`, `msg="listener failed"`} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("log lacks %q:\n%s", s, out.String())
		}
	}
	if strings.Contains(out.String(), "not logged") {
		t.Error("a debug record passed the info level")
	}
}

// The same error again within 15 minutes is kept out of the event log (a
// site down fails every health check), not out of the log.
func TestEventLogHandlerDoesNotRepeat(t *testing.T) {
	var out bytes.Buffer
	rec := newRecorder()
	h := EventLogHandler(slog.NewTextHandler(&out, nil), rec).(*eventLogHandler)
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	h.f.now = func() time.Time { return now }
	log := slog.New(h).With("site", "test")
	for range 3 {
		log.Error("subscribing failed", "err", "connection refused")
		now = now.Add(time.Minute)
	}
	log.Error("subscribing failed", "err", "certificate expired")
	now = now.Add(15 * time.Minute)
	log.Error("subscribing failed", "err", "connection refused")
	want := []string{
		`error 100 msg="subscribing failed" site=test err="connection refused"`,
		`error 100 msg="subscribing failed" site=test err="certificate expired"`,
		`error 100 msg="subscribing failed" site=test err="connection refused"`,
	}
	if strings.Join(rec.events, "\n") != strings.Join(want, "\n") {
		t.Errorf("event log:\n%s\nwant:\n%s", strings.Join(rec.events, "\n"), strings.Join(want, "\n"))
	}
	if n := strings.Count(out.String(), "level=ERROR"); n != 5 {
		t.Errorf("the log has %d of the 5 errors", n)
	}
}

func TestOpenLogFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "logs", "qs-promoter.log")
	w, err := OpenLogFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("one line\n")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil || string(b) != "one line\n" {
		t.Fatalf("log file holds %q (%v)", b, err)
	}

	// A folder that cannot be made is an error now, not silence later.
	blocker := filepath.Join(t.TempDir(), "file")
	os.WriteFile(blocker, nil, 0o644)
	if _, err := OpenLogFile(filepath.Join(blocker, "x.log")); err == nil || !strings.Contains(err.Error(), "log file:") {
		t.Errorf("OpenLogFile under a file: %v", err)
	}
}
