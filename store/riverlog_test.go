package store

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
)

// River's routine info lines are dropped unless debug logging is on.
func TestRiverHandlerKeepsWarningsOnly(t *testing.T) {
	for _, tc := range []struct {
		level slog.Level
		want  []string
	}{
		{slog.LevelInfo, []string{"a warning"}},
		{slog.LevelDebug, []string{"producer: job counts", "a warning"}},
	} {
		var buf bytes.Buffer
		log := slog.New(riverHandler{slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: tc.level})}).With("component", "river")
		log.Info("producer: job counts")
		log.Warn("a warning")
		got := buf.String()
		for _, w := range tc.want {
			if !strings.Contains(got, w) || !strings.Contains(got, "component=river") {
				t.Errorf("level %s: %q lacks %q", tc.level, got, w)
			}
		}
		if tc.level == slog.LevelInfo && strings.Contains(got, "job counts") {
			t.Errorf("level info: River's info line passed: %q", got)
		}
		if !log.Handler().Enabled(context.Background(), slog.LevelError) {
			t.Error("errors are not enabled")
		}
	}
}
