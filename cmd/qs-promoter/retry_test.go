package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// retry posts to the daemon's /-/retry/{id}, found from the configuration's
// listen (without reading its secrets) or --url, and reports its answer.
func TestRetryAsksTheDaemon(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Method+" "+r.URL.EscapedPath())
		switch {
		case strings.HasSuffix(r.URL.Path, "/done"):
			http.Error(w, "execution done ended acted: only a failed execution can be retried", http.StatusConflict)
		default:
			w.WriteHeader(http.StatusAccepted)
			_, _ = w.Write([]byte("execution x is queued again with 10 attempts; its finished steps are not run again\n"))
		}
	}))
	defer srv.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "qs-promoter.yaml")
	listen := strings.Replace(strings.TrimPrefix(srv.URL, "http://"), "127.0.0.1", "0.0.0.0", 1)
	// smtp names a password variable that is not set: retry does not need it.
	yaml := "listen: " + listen + "\nsmtp: {host: mail, from: a@example.com, username: u, password_env: QSP_TEST_UNSET_PASSWORD}\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}

	code, out, errOut := runCmd(t, "retry", "--config", cfg, "20261201T101010.000Z-0a1b2c3d")
	if code != 0 || out != "execution x is queued again with 10 attempts; its finished steps are not run again\n" {
		t.Errorf("retry: %d %q %q", code, out, errOut)
	}
	code, _, errOut = runCmd(t, "retry", "--url", srv.URL+"/", "done")
	if code != 1 || errOut != "qs-promoter retry: execution done ended acted: only a failed execution can be retried\n" {
		t.Errorf("retry of a done execution: %d %q", code, errOut)
	}
	if want := "POST /-/retry/20261201T101010.000Z-0a1b2c3d POST /-/retry/done"; strings.Join(got, " ") != want {
		t.Errorf("requests %q, want %q", got, want)
	}

	if code, _, errOut = runCmd(t, "retry", "--config", cfg); code != 2 || !strings.Contains(errOut, "name one execution ID") {
		t.Errorf("no ID: %d %q", code, errOut)
	}
	srv.Close()
	if code, _, errOut = runCmd(t, "retry", "--url", srv.URL, "x"); code != 1 || !strings.Contains(errOut, "cannot reach the daemon at "+srv.URL) {
		t.Errorf("daemon down: %d %q", code, errOut)
	}
	if code, _, errOut = runCmd(t, "retry", "--config", filepath.Join(dir, "missing.yaml"), "x"); code != 1 || !strings.Contains(errOut, "read config") {
		t.Errorf("no config: %d %q", code, errOut)
	}
}
