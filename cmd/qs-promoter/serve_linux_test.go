package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServeUnderSystemd runs `serve` as systemd runs a Type=notify unit:
// NOTIFY_SOCKET is a datagram socket; READY=1 comes once /healthz answers,
// SIGHUP reloads (RELOADING=1 then READY=1), a stop says STOPPING=1.
func TestServeUnderSystemd(t *testing.T) {
	dir := t.TempDir()
	cfg, port := simConfig(t, dir, "")
	sockPath := filepath.Join(dir, "notify")
	sock, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sockPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	t.Setenv("NOTIFY_SOCKET", sockPath)
	t.Setenv("WATCHDOG_USEC", "")
	next := func(want string) string {
		t.Helper()
		buf := make([]byte, 4096)
		for {
			sock.SetReadDeadline(time.Now().Add(30 * time.Second))
			n, err := sock.Read(buf)
			if err != nil {
				t.Fatalf("waiting for %s: %v", want, err)
			}
			if msg := string(buf[:n]); strings.HasPrefix(msg, want) {
				return msg
			}
		}
	}

	logFile := filepath.Join(dir, "logs", "serve.log")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	var stderr bytes.Buffer
	go func() {
		done <- run(ctx, []string{"serve", "--config", cfg, "--log-file", logFile}, &bytes.Buffer{}, &stderr)
	}()

	ready := next("READY=1")
	if want := fmt.Sprintf("READY=1\nSTATUS=serving on 127.0.0.1:%d", port); ready != want {
		t.Errorf("ready notification %q, want %q", ready, want)
	}
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", port))
	if err != nil {
		t.Fatalf("ready, but /healthz does not answer: %v", err)
	}
	resp.Body.Close()

	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	next("RELOADING=1\nMONOTONIC_USEC=")
	if got := next("READY=1"); got != ready {
		t.Errorf("after the reload: %q, want %q", got, ready)
	}

	cancel() // what SIGTERM does through main's context
	next("STOPPING=1")
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve exited %d: %s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop within 30s")
	}
	b, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"msg=serving", "msg=stopped"} {
		if !strings.Contains(string(b), s) {
			t.Errorf("--log-file lacks %q:\n%s", s, b)
		}
	}
	if stderr.Len() > 0 {
		t.Errorf("with --log-file, serve wrote to stderr: %s", stderr.String())
	}
}
