package service

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"time"
)

// Unit describes the systemd unit `service install` writes.
type Unit struct {
	Binary       string
	Config       string
	StateDir     string
	User         string
	Listen       string
	DrainTimeout time.Duration
}

// The paths the systemd install writes.
const (
	systemdUnitDir = "/etc/systemd/system"
	systemdEnvDir  = "/etc/qs-promoter"
	unitFile       = Name + ".service"
	envFile        = Name + ".env"
)

var unitTemplate = template.Must(template.New("unit").Funcs(template.FuncMap{"arg": unitArg}).Parse(
	`# qs-promoter as a systemd service. ` + "`qs-promoter service install`" + ` writes this file;
# deploy/qs-promoter.service is the same unit for an installation in /opt/qs-promoter.
[Unit]
Description=` + description + `
Documentation=https://github.com/qs-promoter/qs-promoter#6-run-it-as-a-service
Wants=network-online.target
After=network-online.target

[Service]
# READY=1 once listening with the store open; RELOADING=1 and READY=1 around
# a reload (systemctl reload sends SIGHUP); STOPPING=1; WATCHDOG=1 pings.
Type=notify
NotifyAccess=main
ExecStart={{arg .Binary}} serve --config {{arg .Config}}
ExecReload=/bin/kill -HUP $MAINPID
WatchdogSec=1min
Restart=on-failure
RestartSec=5s
# drain_timeout ({{.DrainTimeout}}) and time to close the store.
TimeoutStopSec={{.StopTimeout}}
User={{.User}}
# Secrets (service install --env NAME=VALUE): readable by root only.
EnvironmentFile=-` + systemdEnvDir + `/` + envFile + `

# Hardening: a read-only system but for the state folder, no privileges.
UMask=0027
NoNewPrivileges=yes
ProtectSystem=strict
ReadWritePaths={{arg .StateDir}}
ProtectHome=read-only
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictSUIDSGID=yes
RestrictRealtime=yes
RestrictNamespaces=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX
SystemCallArchitectures=native
{{- if .LowPort}}
# listen uses a port below 1024.
AmbientCapabilities=CAP_NET_BIND_SERVICE
CapabilityBoundingSet=CAP_NET_BIND_SERVICE
{{- else}}
CapabilityBoundingSet=
{{- end}}

[Install]
WantedBy=multi-user.target
`))

// Text returns the unit file.
func (u Unit) Text() (string, error) {
	for _, p := range []string{u.Binary, u.Config, u.StateDir} {
		if !filepath.IsAbs(p) {
			return "", fmt.Errorf("systemd unit: %q is not an absolute path", p)
		}
		if strings.ContainsAny(p, "\x00\r\n") {
			return "", fmt.Errorf("systemd unit: the path %q holds a line break", p)
		}
	}
	if u.DrainTimeout <= 0 {
		return "", errors.New("systemd unit: drain_timeout must be positive")
	}
	lowPort := false
	if _, port, err := net.SplitHostPort(u.Listen); err == nil {
		if n, err := strconv.Atoi(port); err == nil && n > 0 && n < 1024 {
			lowPort = true
		}
	}
	var b bytes.Buffer
	err := unitTemplate.Execute(&b, struct {
		Unit
		StopTimeout string
		LowPort     bool
	}{u, fmt.Sprintf("%ds", int((u.DrainTimeout + stopMargin).Seconds())), lowPort})
	return b.String(), err
}

// unitArg quotes a path for ExecStart= and ReadWritePaths= when it needs
// it, and escapes systemd's specifiers (%) and variables ($).
func unitArg(s string) string {
	s = strings.ReplaceAll(s, "%", "%%")
	s = strings.ReplaceAll(s, "$", "$$")
	if !strings.ContainsAny(s, " \t\"'\\;") {
		return s
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// formatEnvFile writes vars as a systemd EnvironmentFile: double-quoted
// values, with \ " ` and $ escaped.
func formatEnvFile(vars []EnvVar) []byte {
	var b bytes.Buffer
	b.WriteString("# qs-promoter's service environment (qs-promoter service install --env NAME=VALUE).\n# Readable by root only: systemd reads it before starting the service.\n")
	esc := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "`", "\\`", `$`, `\$`)
	for _, v := range vars {
		fmt.Fprintf(&b, "%s=\"%s\"\n", v.Name, esc.Replace(v.Value))
	}
	return b.Bytes()
}

var envLineRE = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*)=(.*)$`)

// parseEnvFile reads what formatEnvFile wrote, and plain NAME=value lines
// written by hand; comments and blank lines are skipped.
func parseEnvFile(b []byte) ([]EnvVar, error) {
	var out []EnvVar
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		m := envLineRE.FindStringSubmatch(line)
		if m == nil {
			return nil, fmt.Errorf("line %d: want NAME=VALUE", i+1)
		}
		v := m[2]
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			var s strings.Builder
			inner := v[1 : len(v)-1]
			for j := 0; j < len(inner); j++ {
				if inner[j] == '\\' && j+1 < len(inner) && strings.IndexByte("\\\"`$", inner[j+1]) >= 0 {
					j++
				}
				s.WriteByte(inner[j])
			}
			v = s.String()
		} else if len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'' {
			v = v[1 : len(v)-1]
		}
		out = append(out, EnvVar{Name: m[1], Value: v})
	}
	return out, nil
}

// systemdHost installs and controls the unit. Its fields are the machine
// (paths, commands, users) so that tests can give it a folder instead.
type systemdHost struct {
	unitDir, envDir string
	out             io.Writer
	euid            int
	// run runs a command (systemctl, useradd) and returns its combined output.
	run        func(name string, args ...string) ([]byte, error)
	lookupUser func(name string) (*user.User, error)
	chown      func(path string, uid, gid int) error
}

func newSystemdHost(out io.Writer) *systemdHost {
	return &systemdHost{
		unitDir: systemdUnitDir, envDir: systemdEnvDir, out: out, euid: os.Geteuid(),
		run: func(name string, args ...string) ([]byte, error) {
			return exec.Command(name, args...).CombinedOutput()
		},
		lookupUser: user.Lookup,
		chown:      os.Lchown,
	}
}

func (h *systemdHost) unitPath() string { return filepath.Join(h.unitDir, unitFile) }
func (h *systemdHost) envPath() string  { return filepath.Join(h.envDir, envFile) }

func (h *systemdHost) needRoot(what string) error {
	if h.euid != 0 {
		return fmt.Errorf("%s needs root: run it with sudo (it writes %s)", what, h.unitPath())
	}
	return nil
}

func (h *systemdHost) systemctl(args ...string) error {
	out, err := h.run("systemctl", args...)
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if msg == "" {
			msg = err.Error()
		}
		return fmt.Errorf("systemctl %s: %s", strings.Join(args, " "), msg)
	}
	return nil
}

var unixUserRE = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,30}$`)

func (h *systemdHost) Install(o InstallOptions) error {
	if err := h.needRoot("service install"); err != nil {
		return err
	}
	name := o.User
	if name == "" {
		name = Name
	}
	if !unixUserRE.MatchString(name) {
		return fmt.Errorf("--user %q is not a Linux user name (lower-case letters, digits, - and _)", name)
	}
	u, err := h.lookupUser(name)
	var unknown user.UnknownUserError
	switch {
	case errors.As(err, &unknown):
		if out, err := h.run("useradd", "--system", "--user-group", "--no-create-home", "--home-dir", o.StateDir, "--shell", "/usr/sbin/nologin", name); err != nil {
			return fmt.Errorf("create the system user %s: useradd: %s", name, strings.TrimSpace(string(out)+" "+err.Error()))
		}
		fmt.Fprintf(o.Out, "created the system user %s\n", name)
		if u, err = h.lookupUser(name); err != nil {
			return fmt.Errorf("user %s: %w", name, err)
		}
	case err != nil:
		return fmt.Errorf("user %s: %w", name, err)
	}
	if u.Uid == "0" {
		fmt.Fprintf(o.Out, "warning: the service runs as root; a dedicated user (the default, %s) is safer\n", Name)
	}
	unit, err := Unit{Binary: o.Binary, Config: o.Config, StateDir: o.StateDir, User: name, Listen: o.Listen, DrainTimeout: o.DrainTimeout}.Text()
	if err != nil {
		return err
	}

	// The state folder is the one place the service writes.
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.MkdirAll(o.StateDir, 0o750); err != nil {
		return fmt.Errorf("state_dir: %w", err)
	}
	if err := filepath.WalkDir(o.StateDir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return h.chown(p, uid, gid)
	}); err != nil {
		return fmt.Errorf("state_dir: give it to %s: %w", name, err)
	}

	if len(o.Env) > 0 {
		old, err := h.Environment()
		if err != nil {
			return err
		}
		if err := os.MkdirAll(h.envDir, 0o700); err != nil {
			return fmt.Errorf("environment file: %w", err)
		}
		if err := writeFileAtomic(h.envPath(), formatEnvFile(mergeEnv(old, o.Env, false)), 0o600); err != nil {
			return fmt.Errorf("environment file: %w", err)
		}
		fmt.Fprintf(o.Out, "stored %s in %s (root only)\n", envNames(o.Env), h.envPath())
	}

	_, statErr := os.Stat(h.unitPath())
	if err := writeFileAtomic(h.unitPath(), []byte(unit), 0o644); err != nil {
		return fmt.Errorf("unit file: %w", err)
	}
	if err := h.systemctl("daemon-reload"); err != nil {
		return err
	}
	if err := h.systemctl("enable", unitFile); err != nil {
		return err
	}
	verb := "installed"
	if statErr == nil {
		verb = "updated"
	}
	fmt.Fprintf(o.Out, "%s %s (runs as %s, starts at boot)\n", verb, h.unitPath(), name)
	fmt.Fprintf(o.Out, "the service must be able to read %s, the certificates and the policies: e.g. chgrp -R %s <folder> && chmod -R g+rX <folder>\n", o.Config, name)
	if statErr == nil {
		fmt.Fprintf(o.Out, "next: qs-promoter service stop && qs-promoter service start (a running service keeps its old settings until then)\n")
	} else {
		fmt.Fprintf(o.Out, "next: qs-promoter service start\n")
	}
	return nil
}

func (h *systemdHost) Uninstall() error {
	if err := h.needRoot("service uninstall"); err != nil {
		return err
	}
	if _, err := os.Stat(h.unitPath()); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s is not installed (no %s)", unitFile, h.unitPath())
	}
	// disable --now stops it (waiting for the drain) and removes the links.
	if err := h.systemctl("disable", "--now", unitFile); err != nil {
		return err
	}
	if err := os.Remove(h.unitPath()); err != nil {
		return err
	}
	removedEnv := false
	if err := os.Remove(h.envPath()); err == nil {
		removedEnv = true
		_ = os.Remove(h.envDir) // only if empty
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("environment file: %w", err)
	}
	if err := h.systemctl("daemon-reload"); err != nil {
		return err
	}
	fmt.Fprintf(h.out, "removed %s", h.unitPath())
	if removedEnv {
		fmt.Fprintf(h.out, " and %s", h.envPath())
	}
	fmt.Fprintf(h.out, "; the state folder and the user are kept\n")
	return nil
}

func (h *systemdHost) Start() error {
	// Type=notify: systemctl start returns once READY=1 came, or failed.
	if err := h.systemctl("start", unitFile); err != nil {
		return fmt.Errorf("%w\nwhy: journalctl -u %s -e", err, unitFile)
	}
	fmt.Fprintf(h.out, "%s is running\n", Name)
	return nil
}

func (h *systemdHost) Stop() error {
	if err := h.systemctl("stop", unitFile); err != nil {
		return err
	}
	fmt.Fprintf(h.out, "%s is stopped\n", Name)
	return nil
}

func (h *systemdHost) Status() (HostStatus, error) {
	out, err := h.run("systemctl", "show", unitFile, "--property=LoadState,ActiveState,SubState,MainPID,StatusText,ActiveEnterTimestamp,FragmentPath,User")
	if err != nil {
		return HostStatus{}, fmt.Errorf("systemctl show %s: %s", unitFile, strings.TrimSpace(string(out)+" "+err.Error()))
	}
	p := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok {
			p[k] = v
		}
	}
	if p["LoadState"] == "not-found" {
		return HostStatus{Text: fmt.Sprintf("%s is not installed (qs-promoter service install --config FILE)\n", unitFile)}, nil
	}
	st := HostStatus{Installed: true, Running: p["ActiveState"] == "active" || p["ActiveState"] == "reloading"}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s (%s)", unitFile, p["ActiveState"], p["SubState"])
	if st.Running {
		fmt.Fprintf(&b, " since %s, pid %s", p["ActiveEnterTimestamp"], p["MainPID"])
	}
	b.WriteString("\n")
	if p["StatusText"] != "" {
		fmt.Fprintf(&b, "status: %s\n", p["StatusText"])
	}
	fmt.Fprintf(&b, "unit: %s (user %s)\nlog: journalctl -u %s\n", p["FragmentPath"], p["User"], unitFile)
	st.Text = b.String()
	return st, nil
}

func (h *systemdHost) Environment() ([]EnvVar, error) {
	b, err := os.ReadFile(h.envPath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if errors.Is(err, fs.ErrPermission) {
		return nil, fmt.Errorf("%s is root's: run this with sudo", h.envPath())
	}
	if err != nil {
		return nil, fmt.Errorf("environment file: %w", err)
	}
	vars, err := parseEnvFile(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", h.envPath(), err)
	}
	return vars, nil
}

// writeFileAtomic writes path through a temporary file in its folder, so a
// reader never sees half a file, and the mode holds from the first byte.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
