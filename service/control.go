package service

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Daemon is the part of the daemon a service manager drives
// (*daemon.Daemon).
type Daemon interface {
	Run(ctx context.Context) error // serves until ctx ends, then drains
	Reload() error                 // reloads the policies; a bad set leaves the old one
}

// State is the daemon's state as a service manager sees it.
type State int

const (
	Starting  State = iota + 1 // loading the configuration, opening the store
	Running                    // listening, the store open
	Reloading                  // reloading the policies (still serving)
	Stopping                   // draining: callbacks and executions in flight finish
	Stopped                    // Run returned
)

func (s State) String() string {
	switch s {
	case Starting:
		return "starting"
	case Running:
		return "running"
	case Reloading:
		return "reloading"
	case Stopping:
		return "stopping"
	case Stopped:
		return "stopped"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Status is one report to the service manager.
type Status struct {
	State   State
	Message string // one line for people (systemd's STATUS=)
	// Err is why the daemon stopped (Stopped), or why a reload failed
	// (Running after Reloading: the previous policies stay in force).
	Err error
}

// Reporter tells a service manager the daemon's state: systemd's notify
// socket, the Windows SCM. Reports come one at a time, in order.
type Reporter interface{ Report(Status) }

// Request is a service manager's command.
type Request int

const (
	Stop        Request = iota + 1 // drain within drain_timeout, then exit
	Shutdown                       // the machine is going down: as Stop
	Reload                         // reload the policies (SIGHUP; Windows: paramchange)
	Interrogate                    // report the current state again
	Pause                          // refused: the current state is reported again
	Continue                       // refused likewise (there is never a pause to end)
)

func (r Request) String() string {
	switch r {
	case Stop:
		return "stop"
	case Shutdown:
		return "shutdown"
	case Reload:
		return "reload"
	case Interrogate:
		return "interrogate"
	case Pause:
		return "pause"
	case Continue:
		return "continue"
	}
	return fmt.Sprintf("Request(%d)", int(r))
}

// ServeFunc is `serve`: it loads the configuration, builds the daemon with
// s.Ready as its readiness hook (daemon.OnReady) and returns s.Run(ctx, d).
// An error before s.Run (a bad configuration) is returned as it is.
type ServeFunc func(ctx context.Context, s *Session) error

// Event IDs written to an EventLog.
const (
	EventStarted = 1   // information: serving
	EventStopped = 2   // information: stopped cleanly
	EventFailed  = 3   // error: stopped with an error
	EventError   = 100 // error: a log record at level error (see EventLogHandler)
)

// EventLog is the Windows Event Log as the service writes it
// (golang.org/x/sys/windows/svc/eventlog.Log has these methods).
type EventLog interface {
	Info(eid uint32, msg string) error
	Warning(eid uint32, msg string) error
	Error(eid uint32, msg string) error
}

// Control runs serve under a service manager: Windows, systemd and a
// terminal each fill it in their own way and call Run.
type Control struct {
	Reporter Reporter // nil: nobody to tell (a terminal)
	EventLog EventLog // nil: no event log (not Windows)
	// Heartbeat re-reports Starting and Stopping this often, so a manager
	// that wants progress during a long start or drain (the Windows SCM)
	// does not give up; 0: report each state once.
	Heartbeat time.Duration
	// Detached says there is no console to log to (a Windows service):
	// serve logs to a file (Session.Detached).
	Detached bool
	Name     string // in event log messages; default "qs-promoter"

	mu  sync.Mutex
	cur Status
}

// Run runs serve until it returns. The service manager's requests arrive on
// reqs (nil: none); ctx ending is a stop, as a Stop request is. Stop and
// Shutdown report Stopping and cancel serve's context, so the daemon drains
// within its drain_timeout; Reload is passed to the daemon (coalesced: one
// waiting reload is enough); Interrogate, Pause and Continue report the
// current state again, so a pause is refused. Run reports Starting first and
// Stopped last, and returns serve's error.
func (c *Control) Run(ctx context.Context, reqs <-chan Request, serve ServeFunc) error {
	if c.Name == "" {
		c.Name = "qs-promoter"
	}
	s := &Session{Detached: c.Detached, EventLog: c.EventLog, control: c, reload: make(chan struct{}, 1)}
	c.set(nil, Status{State: Starting, Message: "starting"})

	serveCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- serve(serveCtx, s) }()

	var tick <-chan time.Time
	if c.Heartbeat > 0 && c.Reporter != nil {
		t := time.NewTicker(c.Heartbeat)
		defer t.Stop()
		tick = t.C
	}
	stopping := false
	stop := func() {
		if !stopping {
			stopping = true
			c.set(nil, Status{State: Stopping, Message: "stopping: finishing the work in flight"})
			cancel()
		}
	}
	ctxDone := ctx.Done()
	for {
		select {
		case <-ctxDone:
			ctxDone = nil
			stop()
		case r, ok := <-reqs:
			if !ok {
				reqs = nil
				continue
			}
			switch r {
			case Stop, Shutdown:
				stop()
			case Reload:
				if !stopping {
					select {
					case s.reload <- struct{}{}:
					default: // one is waiting already: it will read the newest files
					}
				}
			default:
				c.again()
			}
		case <-tick:
			if st := c.current(); st.State == Starting || st.State == Stopping {
				c.again()
			}
		case err := <-done:
			c.set(nil, Status{State: Stopped, Message: "stopped", Err: err})
			return err
		}
	}
}

// set reports st if the current state is one of from (nil: any), and says
// whether it did. It writes starts and stops to the event log.
func (c *Control) set(from []State, st Status) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if from != nil && !containsState(from, c.cur.State) {
		return false
	}
	prev := c.cur.State
	c.cur = st
	if c.Reporter != nil {
		c.Reporter.Report(st)
	}
	if c.EventLog != nil {
		switch {
		case st.State == Running && prev == Starting:
			_ = c.EventLog.Info(EventStarted, c.Name+" started: "+st.Message)
		case st.State == Stopped && st.Err != nil:
			_ = c.EventLog.Error(EventFailed, c.Name+" stopped: "+st.Err.Error())
		case st.State == Stopped:
			_ = c.EventLog.Info(EventStopped, c.Name+" stopped")
		}
	}
	return true
}

// again reports the current state once more (it does not write the event log).
func (c *Control) again() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.Reporter != nil && c.cur.State != 0 {
		c.Reporter.Report(c.cur)
	}
}

func (c *Control) current() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cur
}

func containsState(states []State, s State) bool {
	for _, x := range states {
		if x == s {
			return true
		}
	}
	return false
}

// Session is what one serve gets from the service manager it runs under.
type Session struct {
	// Detached: no console (a Windows service); log to a file.
	Detached bool
	// EventLog: Windows only; log records at level error belong there too
	// (EventLogHandler).
	EventLog EventLog

	control *Control
	reload  chan struct{}
	addr    func() string // the daemon's, when it has one
}

// Ready reports Running; pass it to the daemon as its readiness hook
// (daemon.OnReady). Only the first call after Starting counts, and none
// once a stop was requested.
func (s *Session) Ready() {
	s.control.set([]State{Starting}, Status{State: Running, Message: s.serving()})
}

func (s *Session) serving() string {
	if s.addr != nil {
		return "serving on " + s.addr()
	}
	return "serving"
}

// Run runs d until ctx ends (Control cancels it on a stop), reloading its
// policies on each Reload request, and returns d.Run's error. A reload is
// reported as Reloading, then Running with the reload's error, if any.
func (s *Session) Run(ctx context.Context, d Daemon) error {
	if a, ok := d.(interface{ Addr() string }); ok {
		s.addr = a.Addr
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	for {
		select {
		case <-s.reload:
			// A reload before Ready is done but not reported: the manager
			// only knows "starting" then.
			reported := s.control.set([]State{Running}, Status{State: Reloading, Message: "reloading the policies"})
			err := d.Reload()
			if reported {
				st := Status{State: Running, Message: s.serving(), Err: err}
				if err != nil {
					st.Message = "policy reload failed, the previous policies stay in force: " + oneLine(err.Error())
				}
				s.control.set([]State{Reloading}, st)
			}
		case err := <-done:
			return err
		}
	}
}

// oneLine joins a multi-line message for a one-line status, cut at 200 runes.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 200 {
		s = string(r[:199]) + "…"
	}
	return s
}
