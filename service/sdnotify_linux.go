package service

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// systemd is a Reporter on systemd's notify socket (sd_notify(3)), for a
// unit with Type=notify: READY=1 once serving, RELOADING=1 then READY=1
// around a reload, STOPPING=1 when a stop begins, and WATCHDOG=1 every half
// WATCHDOG_USEC while running, when the unit sets WatchdogSec=.
//
// It is a few lines over a datagram socket, so we keep it rather than
// depend on coreos/go-systemd for it.
type systemd struct {
	addr     *net.UnixAddr
	watchdog time.Duration // ping interval; 0: no watchdog
	log      *slog.Logger

	mu       sync.Mutex
	last     State
	stopPing chan struct{} // closed: stop pinging
	pinging  sync.WaitGroup
}

// SystemdFromEnv returns a Reporter on $NOTIFY_SOCKET, or nil when it is
// not set (not started by systemd, or not Type=notify). Failures to notify
// are logged on log: systemd would then time the start out, and the log
// says why.
func SystemdFromEnv(log *slog.Logger) (Reporter, error) {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return nil, nil
	}
	if !strings.HasPrefix(path, "/") && !strings.HasPrefix(path, "@") {
		return nil, fmt.Errorf("NOTIFY_SOCKET=%q: only a socket path or an abstract socket (@name) is supported", path)
	}
	s := &systemd{addr: &net.UnixAddr{Name: path, Net: "unixgram"}, log: log}
	if usec := os.Getenv("WATCHDOG_USEC"); usec != "" {
		n, err := strconv.ParseInt(usec, 10, 64)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("WATCHDOG_USEC=%q is not a positive number of microseconds", usec)
		}
		// WATCHDOG_PID names the process the watchdog is for; when it is
		// another (a wrapper started us), the pings are not ours to send.
		if pid := os.Getenv("WATCHDOG_PID"); pid == "" || pid == strconv.Itoa(os.Getpid()) {
			s.watchdog = time.Duration(n) * time.Microsecond / 2
		}
	}
	return s, nil
}

func (s *systemd) Report(st Status) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st.State == s.last { // a heartbeat or an interrogation: systemd needs none
		return
	}
	s.last = st.State
	status := "STATUS=" + oneLine(st.Message)
	var msg string
	switch st.State {
	case Starting:
		msg = status
	case Running:
		msg = "READY=1\n" + status
		if s.watchdog > 0 && s.stopPing == nil {
			s.stopPing = make(chan struct{})
			s.pinging.Go(func() { s.ping(s.stopPing) })
		}
	case Reloading:
		var ts unix.Timespec
		_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
		msg = fmt.Sprintf("RELOADING=1\nMONOTONIC_USEC=%d\n%s", ts.Nano()/1000, status)
	case Stopping:
		msg = "STOPPING=1\n" + status
	case Stopped:
		if s.stopPing != nil {
			close(s.stopPing)
			s.stopPing = nil
			s.pinging.Wait() // no ping after Stopped
		}
		return
	}
	if err := s.notify(msg); err != nil && s.log != nil {
		s.log.Error("cannot notify systemd", "state", st.State, "err", err)
	}
}

func (s *systemd) ping(stop <-chan struct{}) {
	t := time.NewTicker(s.watchdog)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			select {
			case <-stop: // both were ready: stopping wins
				return
			default:
			}
			if err := s.notify("WATCHDOG=1"); err != nil && s.log != nil {
				s.log.Error("cannot ping the systemd watchdog", "err", err)
			}
		}
	}
}

func (s *systemd) notify(msg string) error {
	c, err := net.DialUnix("unixgram", nil, s.addr)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Write([]byte(msg))
	return err
}
