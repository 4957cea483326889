package service

import (
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"
)

// Name is the service's name: the Windows service, its event log source,
// and the systemd unit (qs-promoter.service).
const Name = "qs-promoter"

// description is shown by the Windows service manager and systemd.
const description = "qs-promoter (governed Qlik Sense app promotion)"

// Host is the machine's service manager: systemd on Linux, the service
// control manager on Windows (LocalHost).
type Host interface {
	// Install registers the service, or updates it when it exists.
	Install(o InstallOptions) error
	// Uninstall stops and removes it; the state folder stays.
	Uninstall() error
	// Start starts it and waits until it serves or has failed.
	Start() error
	// Stop stops it and waits until it has drained and exited.
	Stop() error
	Status() (HostStatus, error)
	// Environment returns the variables stored for the service
	// (service install --env), so that install can check the
	// configuration with them.
	Environment() ([]EnvVar, error)
}

// HostStatus is what `service status` prints.
type HostStatus struct {
	Installed bool
	Running   bool
	Text      string // lines for people
}

// InstallOptions describe the service to install.
type InstallOptions struct {
	Binary       string        // absolute path of qs-promoter (.exe)
	Config       string        // absolute path of the configuration file
	StateDir     string        // the configuration's state_dir: the service writes there
	Listen       string        // the configuration's listen address
	DrainTimeout time.Duration // the configuration's drain_timeout: the stop timeout is above it
	// User is the account the service runs as; "": the platform's default
	// (Linux: a system user qs-promoter, created if missing; Windows:
	// LocalSystem, with a warning).
	User string
	// Password asks for the password of a Windows account that needs one.
	Password func(account string) (string, error)
	// Env is added to the service's own environment (replacing variables
	// of the same name); values are never printed.
	Env []EnvVar
	Out io.Writer // progress, warnings and next steps
}

// stopMargin is added to drain_timeout for the service manager's stop
// timeout: closing the store and unsubscribing come after the drain.
const stopMargin = 30 * time.Second

// EnvVar is one variable of the service's environment.
type EnvVar struct{ Name, Value string }

var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// ParseEnvVar parses --env NAME=VALUE.
func ParseEnvVar(s string) (EnvVar, error) {
	name, value, ok := strings.Cut(s, "=")
	if !ok {
		return EnvVar{}, fmt.Errorf("--env %q: want NAME=VALUE, e.g. --env SMTP_PASSWORD=…", s)
	}
	if !envNameRE.MatchString(name) {
		return EnvVar{}, fmt.Errorf("--env: %q is not a variable name (letters, digits and _, not starting with a digit)", name)
	}
	if strings.ContainsAny(value, "\x00\r\n") {
		return EnvVar{}, fmt.Errorf("--env %s: the value holds a line break or NUL; a service environment value is one line", name)
	}
	return EnvVar{Name: name, Value: value}, nil
}

// mergeEnv returns old with set applied: a variable of the same name is
// replaced in place, a new one appended. Windows names ignore case.
func mergeEnv(old, set []EnvVar, foldCase bool) []EnvVar {
	same := func(a, b string) bool {
		if foldCase {
			return strings.EqualFold(a, b)
		}
		return a == b
	}
	out := append([]EnvVar(nil), old...)
next:
	for _, v := range set {
		for i := range out {
			if same(out[i].Name, v.Name) {
				out[i] = v
				continue next
			}
		}
		out = append(out, v)
	}
	return out
}

func envNames(vars []EnvVar) string {
	names := make([]string, len(vars))
	for i, v := range vars {
		names[i] = v.Name
	}
	return strings.Join(names, ", ")
}
