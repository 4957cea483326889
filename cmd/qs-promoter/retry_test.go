package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// retry names one execution, needs the daemon's configuration, and says
// when the database it names has never been used by serve. (Queuing a
// failed execution again beside a running daemon is tested in the daemon:
// TestFinalFailureIsReportedAndCanBeRetried.)
func TestRetryCommandErrors(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "qs-promoter.yaml")
	if err := os.WriteFile(cfg, []byte("sites: [{alias: dev, host: localhost}]\nstate_dir: data\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runCmd(t, "retry", "--config", cfg); code != 2 || !strings.Contains(errOut, "name one execution ID") {
		t.Errorf("no ID: %d %q", code, errOut)
	}
	if code, _, errOut := runCmd(t, "retry", "--config", filepath.Join(dir, "missing.yaml"), "x"); code != 1 || !strings.Contains(errOut, "missing.yaml") {
		t.Errorf("no config: %d %q", code, errOut)
	}
	if code, _, errOut := runCmd(t, "retry", "--config", cfg, "20261201T101010.000Z-0a1b2c3d"); code != 1 || !strings.Contains(errOut, "has serve run there?") {
		t.Errorf("no database yet: %d %q", code, errOut)
	}
}
