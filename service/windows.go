//go:build windows

package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"
	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/eventlog"
	"golang.org/x/sys/windows/svc/mgr"
)

// This file only translates between the Windows service API and Control,
// Host: the logic is in control.go and is tested on Linux.

const (
	// The SCM wants progress during a long start or drain: a new
	// checkpoint every scmHeartbeat, each promising the next within
	// scmWaitHint.
	scmHeartbeat = 5 * time.Second
	scmWaitHint  = 20 * time.Second

	serviceKey = `SYSTEM\CurrentControlSet\Services\` + Name
)

// IsWindowsService reports whether the service control manager started
// this process.
func IsWindowsService() (bool, error) { return svc.IsWindowsService() }

// RunWindowsService runs serve under the service control manager, with
// start, stop and errors written to the Application event log as well.
func RunWindowsService(serve ServeFunc) error {
	el, err := eventlog.Open(Name)
	if err != nil {
		return fmt.Errorf("open the event log: %w", err)
	}
	defer el.Close()
	return svc.Run(Name, &scmHandler{serve: serve, elog: el})
}

type scmHandler struct {
	serve ServeFunc
	elog  *eventlog.Log
}

func (h *scmHandler) Execute(_ []string, r <-chan svc.ChangeRequest, changes chan<- svc.Status) (bool, uint32) {
	reqs := make(chan Request)
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case <-done:
				return
			case cr := <-r:
				req, ok := requestOf(cr.Cmd)
				if !ok {
					continue
				}
				select {
				case reqs <- req:
				case <-done:
					return
				}
			}
		}
	}()
	c := &Control{Reporter: &scmReporter{changes: changes}, EventLog: h.elog, Heartbeat: scmHeartbeat, Detached: true}
	if err := c.Run(context.Background(), reqs, h.serve); err != nil {
		return true, 1 // a service-specific failure: the recovery actions restart it
	}
	return false, 0
}

func requestOf(c svc.Cmd) (Request, bool) {
	switch c {
	case svc.Stop:
		return Stop, true
	case svc.Shutdown, svc.PreShutdown:
		return Shutdown, true
	case svc.ParamChange:
		return Reload, true
	case svc.Interrogate:
		return Interrogate, true
	case svc.Pause:
		return Pause, true
	case svc.Continue:
		return Continue, true
	}
	return 0, false
}

// scmReporter turns states into SCM statuses. Pause is never accepted, so
// the SCM itself refuses `sc pause`.
type scmReporter struct {
	changes    chan<- svc.Status
	checkpoint uint32
}

const scmAccepts = svc.AcceptStop | svc.AcceptShutdown | svc.AcceptPreShutdown | svc.AcceptParamChange

func (r *scmReporter) Report(st Status) {
	var s svc.Status
	switch st.State {
	case Starting:
		s.State = svc.StartPending
	case Running, Reloading: // Windows has no "reloading"
		s = svc.Status{State: svc.Running, Accepts: scmAccepts}
	case Stopping:
		s.State = svc.StopPending
	default: // Stopped: Execute's return reports it, with the exit code
		return
	}
	if s.State == svc.Running {
		r.checkpoint = 0
	} else {
		r.checkpoint++
		s.CheckPoint, s.WaitHint = r.checkpoint, uint32(scmWaitHint/time.Millisecond)
	}
	r.changes <- s
}

// LocalHost returns this machine's service manager: the SCM.
func LocalHost(out io.Writer) (Host, error) { return &scmHost{out: out}, nil }

type scmHost struct{ out io.Writer }

func (h *scmHost) connect() (*mgr.Mgr, error) {
	m, err := mgr.Connect()
	if errors.Is(err, windows.ERROR_ACCESS_DENIED) {
		return nil, errors.New("the service control manager refused access: run this from an elevated prompt (Run as administrator)")
	}
	if err != nil {
		return nil, fmt.Errorf("connect to the service control manager: %w", err)
	}
	return m, nil
}

func (h *scmHost) open() (*mgr.Mgr, *mgr.Service, error) {
	m, err := h.connect()
	if err != nil {
		return nil, nil, err
	}
	s, err := m.OpenService(Name)
	if err != nil {
		m.Disconnect()
		if errors.Is(err, windows.ERROR_SERVICE_DOES_NOT_EXIST) {
			return nil, nil, fmt.Errorf("the service %s is not installed (qs-promoter service install --config FILE)", Name)
		}
		return nil, nil, fmt.Errorf("open the service %s: %w", Name, err)
	}
	return m, s, nil
}

func (h *scmHost) Install(o InstallOptions) error {
	account, needsPassword, warning := windowsAccount(o.User)
	if warning != "" {
		fmt.Fprintln(o.Out, warning)
	}
	var password string
	if needsPassword {
		if o.Password == nil {
			return fmt.Errorf("the account %s needs its password", account)
		}
		p, err := o.Password(account)
		if err != nil {
			return err
		}
		password = p
	}
	m, err := h.connect()
	if err != nil {
		return err
	}
	defer m.Disconnect()
	cfg := mgr.Config{
		DisplayName: Name, Description: description, StartType: mgr.StartAutomatic, DelayedAutoStart: true,
		ErrorControl: mgr.ErrorNormal, ServiceStartName: account, Password: password,
	}
	args := []string{"serve", "--config", o.Config}
	verb := "updated"
	s, err := m.OpenService(Name)
	if err == nil {
		cur, err := s.Config()
		if err != nil {
			s.Close()
			return fmt.Errorf("read the service's configuration: %w", err)
		}
		cfg.ServiceType = cur.ServiceType
		cfg.BinaryPathName = commandLine(o.Binary, args)
		if err := s.UpdateConfig(cfg); err != nil {
			s.Close()
			return fmt.Errorf("update the service: %w", err)
		}
	} else {
		verb = "installed"
		if s, err = m.CreateService(Name, o.Binary, cfg, args...); err != nil {
			return fmt.Errorf("create the service: %w", err)
		}
	}
	defer s.Close()
	restart := []mgr.RecoveryAction{
		{Type: mgr.ServiceRestart, Delay: 5 * time.Second},
		{Type: mgr.ServiceRestart, Delay: 30 * time.Second},
		{Type: mgr.ServiceRestart, Delay: time.Minute},
	}
	if err := s.SetRecoveryActions(restart, uint32((24 * time.Hour).Seconds())); err != nil {
		return fmt.Errorf("set the recovery actions: %w", err)
	}
	// Also when it stops with an error of its own, not only on a crash.
	if err := s.SetRecoveryActionsOnNonCrashFailures(true); err != nil {
		return fmt.Errorf("set the recovery actions: %w", err)
	}
	// At shutdown Windows waits this long (preshutdown) for the drain.
	info := struct{ timeout uint32 }{uint32((o.DrainTimeout + stopMargin) / time.Millisecond)}
	if err := windows.ChangeServiceConfig2(s.Handle, windows.SERVICE_CONFIG_PRESHUTDOWN_INFO, (*byte)(unsafe.Pointer(&info))); err != nil {
		return fmt.Errorf("set the shutdown timeout: %w", err)
	}
	if err := eventlog.InstallAsEventCreate(Name, eventlog.Error|eventlog.Warning|eventlog.Info); err != nil && !strings.Contains(err.Error(), "already exists") {
		return fmt.Errorf("register the event log source: %w", err)
	}
	if len(o.Env) > 0 {
		if err := h.setEnvironment(o.Env); err != nil {
			return err
		}
		fmt.Fprintf(o.Out, "stored %s in the service's environment (HKLM\\%s, Environment; SYSTEM and Administrators only)\n", envNames(o.Env), serviceKey)
	}
	fmt.Fprintf(o.Out, "%s the service %s (automatic, delayed start; restarts on failure; runs as %s)\n", verb, Name, account)
	fmt.Fprintf(o.Out, "its log: %s\\logs\\qs-promoter.log, and start, stop and errors in the Application event log (source %s)\n", o.StateDir, Name)
	if verb == "updated" {
		fmt.Fprintln(o.Out, "next: qs-promoter service stop, then qs-promoter service start (a running service keeps its old settings until then)")
	} else {
		fmt.Fprintln(o.Out, "next: qs-promoter service start")
	}
	return nil
}

// commandLine quotes as CreateService does.
func commandLine(exe string, args []string) string {
	s := syscall.EscapeArg(exe)
	for _, a := range args {
		s += " " + syscall.EscapeArg(a)
	}
	return s
}

func (h *scmHost) Environment() ([]EnvVar, error) {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, serviceKey, registry.QUERY_VALUE)
	if errors.Is(err, registry.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the service's environment: %w", err)
	}
	defer k.Close()
	lines, _, err := k.GetStringsValue("Environment")
	if errors.Is(err, registry.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the service's environment: %w", err)
	}
	var out []EnvVar
	for _, l := range lines {
		if name, value, ok := strings.Cut(l, "="); ok && name != "" {
			out = append(out, EnvVar{Name: name, Value: value})
		}
	}
	return out, nil
}

// setEnvironment merges set into the service's Environment value, after
// closing the service's key to everyone but SYSTEM and Administrators
// (local users may read service keys by default).
func (h *scmHost) setEnvironment(set []EnvVar) error {
	old, err := h.Environment()
	if err != nil {
		return err
	}
	sd, err := windows.SecurityDescriptorFromString("D:P(A;CI;KA;;;SY)(A;CI;KA;;;BA)")
	if err != nil {
		return fmt.Errorf("restrict the service's registry key: %w", err)
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		return fmt.Errorf("restrict the service's registry key: %w", err)
	}
	if err := windows.SetNamedSecurityInfo(`MACHINE\`+serviceKey, windows.SE_REGISTRY_KEY,
		windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION, nil, nil, dacl, nil); err != nil {
		return fmt.Errorf("restrict the service's registry key (the variables were not stored): %w", err)
	}
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, serviceKey, registry.SET_VALUE)
	if err != nil {
		return fmt.Errorf("store the service's environment: %w", err)
	}
	defer k.Close()
	merged := mergeEnv(old, set, true)
	lines := make([]string, len(merged))
	for i, v := range merged {
		lines[i] = v.Name + "=" + v.Value
	}
	if err := k.SetStringsValue("Environment", lines); err != nil {
		return fmt.Errorf("store the service's environment: %w", err)
	}
	return nil
}

func (h *scmHost) Uninstall() error {
	m, s, err := h.open()
	if err != nil {
		return err
	}
	defer m.Disconnect()
	defer s.Close()
	if st, err := s.Query(); err == nil && st.State != svc.Stopped {
		if err := h.stop(s); err != nil {
			return err
		}
	}
	if err := s.Delete(); err != nil {
		return fmt.Errorf("delete the service: %w", err)
	}
	if err := eventlog.Remove(Name); err != nil && !errors.Is(err, registry.ErrNotExist) {
		fmt.Fprintf(h.out, "warning: the event log source %s was not removed: %v\n", Name, err)
	}
	fmt.Fprintf(h.out, "removed the service %s, its stored environment and its event log source; the state folder is kept\n", Name)
	return nil
}

func (h *scmHost) Start() error {
	m, s, err := h.open()
	if err != nil {
		return err
	}
	defer m.Disconnect()
	defer s.Close()
	if err := s.Start(); err != nil {
		if errors.Is(err, windows.ERROR_SERVICE_ALREADY_RUNNING) {
			fmt.Fprintf(h.out, "%s is already running\n", Name)
			return nil
		}
		if errors.Is(err, windows.ERROR_SERVICE_LOGON_FAILED) {
			return fmt.Errorf("start %s: the account could not log on: check its password, and that it has the right \"Log on as a service\" (secpol.msc → Local Policies → User Rights Assignment)", Name)
		}
		return fmt.Errorf("start %s: %w", Name, err)
	}
	st, err := waitState(s, svc.StartPending, 5*time.Minute)
	if err != nil {
		return err
	}
	if st.State != svc.Running {
		return fmt.Errorf("%s stopped while starting (exit code %d): the Application event log (source %s) and the log in the state folder (logs\\qs-promoter.log) say why", Name, st.ServiceSpecificExitCode, Name)
	}
	fmt.Fprintf(h.out, "%s is running (pid %d)\n", Name, st.ProcessId)
	return nil
}

func (h *scmHost) Stop() error {
	m, s, err := h.open()
	if err != nil {
		return err
	}
	defer m.Disconnect()
	defer s.Close()
	return h.stop(s)
}

func (h *scmHost) stop(s *mgr.Service) error {
	if _, err := s.Control(svc.Stop); err != nil {
		if errors.Is(err, windows.ERROR_SERVICE_NOT_ACTIVE) {
			fmt.Fprintf(h.out, "%s is not running\n", Name)
			return nil
		}
		return fmt.Errorf("stop %s: %w", Name, err)
	}
	// The service reports progress while it drains; drain_timeout bounds it.
	if _, err := waitState(s, svc.StopPending, 10*time.Minute); err != nil {
		return err
	}
	fmt.Fprintf(h.out, "%s is stopped\n", Name)
	return nil
}

// waitState polls until the service leaves the pending state.
func waitState(s *mgr.Service, pending svc.State, limit time.Duration) (svc.Status, error) {
	deadline := time.Now().Add(limit)
	for {
		st, err := s.Query()
		if err != nil {
			return st, fmt.Errorf("query %s: %w", Name, err)
		}
		if st.State != pending {
			return st, nil
		}
		if time.Now().After(deadline) {
			return st, fmt.Errorf("%s is still %s after %s", Name, stateName(st.State), limit)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func stateName(s svc.State) string {
	switch s {
	case svc.Stopped:
		return "stopped"
	case svc.StartPending:
		return "starting"
	case svc.StopPending:
		return "stopping"
	case svc.Running:
		return "running"
	case svc.ContinuePending:
		return "continuing"
	case svc.PausePending:
		return "pausing"
	case svc.Paused:
		return "paused"
	}
	return fmt.Sprintf("state %d", s)
}

func (h *scmHost) Status() (HostStatus, error) {
	m, err := h.connect()
	if err != nil {
		return HostStatus{}, err
	}
	defer m.Disconnect()
	s, err := m.OpenService(Name)
	if errors.Is(err, windows.ERROR_SERVICE_DOES_NOT_EXIST) {
		return HostStatus{Text: fmt.Sprintf("the service %s is not installed (qs-promoter service install --config FILE)\n", Name)}, nil
	}
	if err != nil {
		return HostStatus{}, fmt.Errorf("open the service %s: %w", Name, err)
	}
	defer s.Close()
	st, err := s.Query()
	if err != nil {
		return HostStatus{}, fmt.Errorf("query %s: %w", Name, err)
	}
	cfg, err := s.Config()
	if err != nil {
		return HostStatus{}, fmt.Errorf("read the configuration of %s: %w", Name, err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s", Name, stateName(st.State))
	if st.ProcessId != 0 {
		fmt.Fprintf(&b, ", pid %d", st.ProcessId)
	}
	if st.State == svc.Stopped && st.ServiceSpecificExitCode != 0 {
		fmt.Fprintf(&b, " (last exit code %d: see the Application event log)", st.ServiceSpecificExitCode)
	}
	start := map[uint32]string{mgr.StartAutomatic: "automatic", mgr.StartManual: "manual", mgr.StartDisabled: "disabled"}[cfg.StartType]
	if cfg.DelayedAutoStart {
		start += " (delayed)"
	}
	fmt.Fprintf(&b, "\nstart: %s\naccount: %s\ncommand: %s\nlog: the Application event log (source %s), and logs\\qs-promoter.log in the state folder\n",
		start, cfg.ServiceStartName, cfg.BinaryPathName, Name)
	return HostStatus{Installed: true, Running: st.State == svc.Running, Text: b.String()}, nil
}
