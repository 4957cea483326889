package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/term"

	"github.com/qs-promoter/qs-promoter/daemon"
	"github.com/qs-promoter/qs-promoter/service"
)

func init() {
	commands["service"] = command{summary: "install, start, stop, remove or show the Windows service / systemd unit", run: runService}
}

const serviceUsage = "service install [--config FILE] [--user ACCOUNT] [--env NAME=VALUE]... | uninstall | start | stop | status"

// The machine's service manager and this program's path; tests replace them.
var (
	localHost  = service.LocalHost
	executable = os.Executable
)

func runService(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintf(stderr, "Usage: qs-promoter %s\n\n"+
			"  install --config FILE [--user ACCOUNT] [--env NAME=VALUE]...   register the service (or update it)\n"+
			"  uninstall                                                     stop and remove it (the state folder stays)\n"+
			"  start | stop                                                  start it / stop it (it drains first)\n"+
			"  status                                                        its state (exit status 3 when not running)\n\n"+
			"The flags of install:\n", serviceUsage)
		help := newFlagSet("service install", "", stderr)
		installFlags(help)
		help.PrintDefaults()
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	sub := args[0]
	fs := newFlagSet("service "+sub, "service "+sub, stderr)
	var cfgPath, user *string
	var env *envFlags
	switch sub {
	case "install":
		fs = newFlagSet("service install", "service install --config FILE [--user ACCOUNT] [--env NAME=VALUE]...", stderr)
		f := installFlags(fs)
		cfgPath, user, env = f.config, f.user, f.env
	case "uninstall", "start", "stop", "status":
	default:
		fmt.Fprintf(stderr, "qs-promoter service: unknown subcommand %q; want install, uninstall, start, stop or status\n", sub)
		return errUsage
	}
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "qs-promoter service %s: unexpected argument %q\n", sub, fs.Arg(0))
		return errUsage
	}
	host, err := localHost(stdout)
	if err != nil {
		return err
	}
	switch sub {
	case "install":
		return serviceInstall(host, *cfgPath, *user, *env, stdout, stderr)
	case "uninstall":
		return host.Uninstall()
	case "start":
		return host.Start()
	case "stop":
		return host.Stop()
	}
	st, err := host.Status()
	if err != nil {
		return err
	}
	fmt.Fprint(stdout, st.Text)
	if !st.Running {
		return exitError{3} // as systemctl and LSB init scripts: not running
	}
	return nil
}

// serviceInstall checks the configuration as the service will read it,
// then installs.
func serviceInstall(host service.Host, cfgPath, user string, env envFlags, stdout, stderr io.Writer) error {
	cfgAbs, err := filepath.Abs(cfgPath)
	if err != nil {
		return err
	}
	// The service reads its secrets from its own environment: check the
	// configuration with the variables it will have (those stored before
	// and --env), on top of this shell's.
	stored, err := host.Environment()
	if err != nil {
		return err
	}
	for _, v := range append(stored, env...) {
		os.Setenv(v.Name, v.Value)
	}
	cfg, err := daemon.LoadConfig(cfgAbs)
	if err != nil {
		return fmt.Errorf("the service would not start with this configuration (qs-promoter check --config %s shows every problem):\n%w", cfgPath, err)
	}
	exe, err := executable()
	if err == nil {
		exe, err = filepath.EvalSymlinks(exe)
	}
	if err != nil {
		return fmt.Errorf("where is this program? %w", err)
	}
	if strings.HasPrefix(exe, os.TempDir()) && strings.Contains(exe, "go-build") {
		return errors.New("this binary was built by `go run` and is deleted when it exits: build it (go build -o qs-promoter ./cmd/qs-promoter) and install with that")
	}
	return host.Install(service.InstallOptions{
		Binary: exe, Config: cfgAbs, StateDir: cfg.StateDir, Listen: cfg.Listen, DrainTimeout: cfg.DrainTimeout,
		User: user, Password: readPassword(stderr), Env: env, Out: stdout,
	})
}

// readPassword asks for a Windows account's password on the terminal
// without echo, or reads one line from standard input when it is not a
// terminal (echo "$PW" | qs-promoter service install …).
func readPassword(prompt io.Writer) func(account string) (string, error) {
	return func(account string) (string, error) {
		fd := int(os.Stdin.Fd())
		if term.IsTerminal(fd) {
			fmt.Fprintf(prompt, "password of %s: ", account)
			b, err := term.ReadPassword(fd)
			fmt.Fprintln(prompt)
			if err != nil {
				return "", fmt.Errorf("read the password: %w", err)
			}
			return string(b), nil
		}
		line, err := bufio.NewReader(os.Stdin).ReadString('\n')
		if err != nil && line == "" {
			return "", fmt.Errorf("the account %s needs its password: type it at the prompt or pipe it on standard input", account)
		}
		return strings.TrimRight(line, "\r\n"), nil
	}
}

// envFlags collects repeated --env NAME=VALUE.
type envFlags []service.EnvVar

func (e *envFlags) String() string { return "" } // never the values

func (e *envFlags) Set(s string) error {
	v, err := service.ParseEnvVar(s)
	if err != nil {
		return err
	}
	*e = append(*e, v)
	return nil
}

type serviceInstallFlags struct {
	config, user *string
	env          *envFlags
}

// installFlags declares the flags of service install on fs.
func installFlags(fs *flag.FlagSet) serviceInstallFlags {
	f := serviceInstallFlags{env: new(envFlags)}
	f.config = fs.String("config", "qs-promoter.yaml", "the configuration the service runs with (checked now)")
	f.user = fs.String("user", "", "the account the service runs as (Windows: default LocalSystem; Linux: default qs-promoter, created if missing)")
	fs.Var(f.env, "env", "NAME=VALUE stored in the service's own environment, e.g. a secret a *_env key names (repeatable; never printed)")
	return f
}
