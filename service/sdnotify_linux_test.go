package service

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// notifySocket listens on a Unix datagram socket and sets NOTIFY_SOCKET to
// it, as systemd does for a Type=notify unit.
func notifySocket(t *testing.T, abstract bool) *net.UnixConn {
	t.Helper()
	name := filepath.Join(t.TempDir(), "notify")
	if abstract {
		name = fmt.Sprintf("@qs-promoter-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	}
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	t.Setenv("NOTIFY_SOCKET", name)
	t.Setenv("WATCHDOG_USEC", "")
	t.Setenv("WATCHDOG_PID", "")
	return c
}

// next reads the next datagram that is not a watchdog ping.
func next(t *testing.T, c *net.UnixConn) string {
	t.Helper()
	buf := make([]byte, 4096)
	for {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("no notification: %v", err)
		}
		if msg := string(buf[:n]); msg != "WATCHDOG=1" {
			return msg
		}
	}
}

func TestSystemdNotifiesControlStates(t *testing.T) {
	for _, abstract := range []bool{false, true} {
		t.Run(fmt.Sprintf("abstract=%v", abstract), func(t *testing.T) {
			sock := notifySocket(t, abstract)
			rep, err := SystemdFromEnv(nil)
			if err != nil || rep == nil {
				t.Fatalf("SystemdFromEnv: %v %v", rep, err)
			}
			d := newFakeDaemon()
			d.reloadErr = errors.New("policies/a.yaml:1:1: bad")
			reqs := make(chan Request)
			done := make(chan error, 1)
			c := &Control{Reporter: rep, Heartbeat: time.Millisecond}
			go func() { done <- c.Run(context.Background(), reqs, serveWith(d)) }()

			if got := next(t, sock); got != "STATUS=starting" {
				t.Errorf("first notification %q", got)
			}
			close(d.started)
			if got := next(t, sock); got != "READY=1\nSTATUS=serving on 127.0.0.1:5000" {
				t.Errorf("ready: %q", got)
			}
			reqs <- Reload
			got := next(t, sock)
			if !strings.HasPrefix(got, "RELOADING=1\nMONOTONIC_USEC=") || !strings.HasSuffix(got, "\nSTATUS=reloading the policies") {
				t.Errorf("reloading: %q", got)
			}
			if got := next(t, sock); got != "READY=1\nSTATUS=policy reload failed, the previous policies stay in force: policies/a.yaml:1:1: bad" {
				t.Errorf("after the reload: %q", got)
			}
			reqs <- Stop
			if got := next(t, sock); got != "STOPPING=1\nSTATUS=stopping: finishing the work in flight" {
				t.Errorf("stopping: %q", got)
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			// Heartbeats every millisecond were not passed on.
			sock.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			if n, err := sock.Read(make([]byte, 100)); err == nil {
				t.Errorf("unexpected notification after stopping (%d bytes)", n)
			}
		})
	}
}

func TestSystemdWatchdog(t *testing.T) {
	sock := notifySocket(t, false)
	t.Setenv("WATCHDOG_USEC", "20000") // 20ms: pings every 10ms
	rep, err := SystemdFromEnv(nil)
	if err != nil {
		t.Fatal(err)
	}
	rep.Report(Status{State: Starting, Message: "starting"})
	next(t, sock)
	// No pings before ready: systemd's watchdog starts with READY=1.
	sock.SetReadDeadline(time.Now().Add(60 * time.Millisecond))
	if n, err := sock.Read(make([]byte, 100)); err == nil {
		t.Fatalf("a notification before ready (%d bytes)", n)
	}
	rep.Report(Status{State: Running, Message: "serving"})
	buf := make([]byte, 100)
	pings := 0
	for pings < 3 {
		sock.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := sock.Read(buf)
		if err != nil {
			t.Fatalf("after %d pings: %v", pings, err)
		}
		if string(buf[:n]) == "WATCHDOG=1" {
			pings++
		}
	}
	rep.Report(Status{State: Stopped}) // returns once the pinging stopped
	for {                              // pings sent before it, still in the socket
		sock.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if _, err := sock.Read(buf); err != nil {
			break
		}
	}
	sock.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, err := sock.Read(buf); err == nil {
		t.Errorf("pinged after stopping: %q", buf[:n])
	}
}

func TestSystemdFromEnv(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	if rep, err := SystemdFromEnv(nil); rep != nil || err != nil {
		t.Errorf("without NOTIFY_SOCKET: %v %v, want nil nil", rep, err)
	}
	t.Setenv("NOTIFY_SOCKET", "vsock:2:1234")
	if _, err := SystemdFromEnv(nil); err == nil || !strings.Contains(err.Error(), `NOTIFY_SOCKET="vsock:2:1234": only a socket path or an abstract socket (@name) is supported`) {
		t.Errorf("vsock: %v", err)
	}
	t.Setenv("NOTIFY_SOCKET", "/run/systemd/notify")
	t.Setenv("WATCHDOG_USEC", "soon")
	if _, err := SystemdFromEnv(nil); err == nil || !strings.Contains(err.Error(), `WATCHDOG_USEC="soon" is not a positive number`) {
		t.Errorf("bad watchdog: %v", err)
	}
	// The watchdog of another process is not ours to ping.
	t.Setenv("WATCHDOG_USEC", "1000000")
	t.Setenv("WATCHDOG_PID", "1")
	rep, err := SystemdFromEnv(nil)
	if err != nil || rep.(*systemd).watchdog != 0 {
		t.Errorf("WATCHDOG_PID of another process: %+v %v", rep, err)
	}
	t.Setenv("WATCHDOG_PID", fmt.Sprint(os.Getpid()))
	rep, _ = SystemdFromEnv(nil)
	if w := rep.(*systemd).watchdog; w != 500*time.Millisecond {
		t.Errorf("watchdog interval %s, want half of WATCHDOG_USEC", w)
	}
}
