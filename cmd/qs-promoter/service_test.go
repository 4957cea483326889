package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/qs-promoter/qs-promoter/service"
)

// fakeHost records what `service` asks of the machine's service manager.
type fakeHost struct {
	exe       string
	installed *service.InstallOptions
	stored    []service.EnvVar
	running   bool
	calls     []string
}

func (h *fakeHost) Install(o service.InstallOptions) error {
	h.installed = &o
	h.calls = append(h.calls, "install")
	return nil
}
func (h *fakeHost) Uninstall() error { h.calls = append(h.calls, "uninstall"); return nil }
func (h *fakeHost) Start() error     { h.calls = append(h.calls, "start"); return nil }
func (h *fakeHost) Stop() error      { h.calls = append(h.calls, "stop"); return nil }
func (h *fakeHost) Status() (service.HostStatus, error) {
	return service.HostStatus{Installed: true, Running: h.running, Text: "qs-promoter: stopped\n"}, nil
}
func (h *fakeHost) Environment() ([]service.EnvVar, error) { return h.stored, nil }

func useFakeHost(t *testing.T) *fakeHost {
	h := &fakeHost{}
	oldHost, oldExe := localHost, executable
	localHost = func(io.Writer) (service.Host, error) { return h, nil }
	exe := filepath.Join(t.TempDir(), "qs-promoter")
	if err := os.WriteFile(exe, nil, 0o755); err != nil {
		t.Fatal(err)
	}
	exe, _ = filepath.EvalSymlinks(exe)
	h.exe = exe
	executable = func() (string, error) { return exe, nil }
	t.Cleanup(func() { localHost, executable = oldHost, oldExe })
	return h
}

func TestServiceInstallChecksTheConfigWithTheServiceEnvironment(t *testing.T) {
	h := useFakeHost(t)
	dir := t.TempDir()
	cfg, _ := simConfig(t, dir, `smtp:
  host: smtp.example.com
  username: promoter
  password_env: QSP_TEST_SMTP_PASSWORD
  from: promoter@example.com
`)
	t.Setenv("QSP_TEST_SMTP_PASSWORD", "") // unset for the config loader; restored after
	t.Setenv("OTHER", "")

	// Without the variable the service would not start: nothing installed.
	code, _, errOut := runCmd(t, "service", "install", "--config", cfg)
	if code != 1 || !strings.Contains(errOut, "the service would not start with this configuration") || !strings.Contains(errOut, "environment variable QSP_TEST_SMTP_PASSWORD is not set") {
		t.Errorf("install without the secret: %d %q", code, errOut)
	}
	if h.installed != nil {
		t.Fatal("installed despite a configuration the service cannot load")
	}

	code, out, errOut := runCmd(t, "service", "install", "--config", cfg, "--user", "svc-qsp", "--env", "QSP_TEST_SMTP_PASSWORD=pw-NEVER-PRINTED", "--env", "OTHER=x=y")
	if code != 0 {
		t.Fatalf("install: %d %q", code, errOut)
	}
	o := h.installed
	if o == nil || o.Binary != h.exe || o.Config != cfg || o.StateDir != filepath.Join(dir, "data") ||
		o.DrainTimeout != 5*time.Second || o.User != "svc-qsp" || !strings.HasPrefix(o.Listen, "127.0.0.1:") {
		t.Fatalf("install options %+v", o)
	}
	if len(o.Env) != 2 || o.Env[0] != (service.EnvVar{Name: "QSP_TEST_SMTP_PASSWORD", Value: "pw-NEVER-PRINTED"}) || o.Env[1].Value != "x=y" {
		t.Errorf("env %+v", o.Env)
	}
	if strings.Contains(out+errOut, "NEVER-PRINTED") {
		t.Errorf("install printed a secret: %q %q", out, errOut)
	}

	// A second install finds the secret already stored for the service.
	h.installed = nil
	os.Unsetenv("QSP_TEST_SMTP_PASSWORD")
	h.stored = []service.EnvVar{{Name: "QSP_TEST_SMTP_PASSWORD", Value: "stored"}}
	if code, _, errOut := runCmd(t, "service", "install", "--config", cfg); code != 0 || h.installed == nil {
		t.Errorf("install with the secret stored for the service: %d %q", code, errOut)
	}
}

func TestServiceCommandErrors(t *testing.T) {
	h := useFakeHost(t)
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"service"}, 2, "Usage: qs-promoter service install [--config FILE] [--user ACCOUNT] [--env NAME=VALUE]... | uninstall | start | stop | status"},
		{[]string{"service", "restart"}, 2, `unknown subcommand "restart"; want install, uninstall, start, stop or status`},
		{[]string{"service", "install", "--env", "SMTP_PASSWORD"}, 2, `--env "SMTP_PASSWORD": want NAME=VALUE`},
		{[]string{"service", "install", "--env", "9X=1"}, 2, `"9X" is not a variable name`},
		{[]string{"service", "install", "--config", filepath.Join(t.TempDir(), "none.yaml")}, 1, "the service would not start with this configuration"},
		{[]string{"service", "start", "now"}, 2, `unexpected argument "now"`},
		{[]string{"service", "stop", "--config", "x.yaml"}, 2, "flag provided but not defined: -config"},
	} {
		code, _, errOut := runCmd(t, c.args...)
		if code != c.code || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d %q, want %d and %q", c.args, code, errOut, c.code, c.want)
		}
	}
	if h.installed != nil || len(h.calls) != 0 {
		t.Errorf("a bad command reached the service manager: %v", h.calls)
	}
}

func TestServiceControlCommands(t *testing.T) {
	h := useFakeHost(t)
	for _, sub := range []string{"start", "stop", "uninstall"} {
		if code, _, errOut := runCmd(t, "service", sub); code != 0 {
			t.Errorf("%s: %d %q", sub, code, errOut)
		}
	}
	if strings.Join(h.calls, " ") != "start stop uninstall" {
		t.Errorf("calls %v", h.calls)
	}
	code, out, _ := runCmd(t, "service", "status")
	if code != 3 || out != "qs-promoter: stopped\n" {
		t.Errorf("status of a stopped service: %d %q, want exit 3", code, out)
	}
	h.running = true
	if code, _, _ := runCmd(t, "service", "status"); code != 0 {
		t.Errorf("status of a running service: exit %d", code)
	}
}
