package service

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite deploy/qs-promoter.service from the generator")

// deployUnit is the layout deploy/qs-promoter.service is written for.
var deployUnit = Unit{
	Binary:       "/opt/qs-promoter/qs-promoter",
	Config:       "/opt/qs-promoter/qs-promoter.yaml",
	StateDir:     "/opt/qs-promoter/data",
	User:         "qs-promoter",
	Listen:       ":5000",
	DrainTimeout: 30 * time.Second,
}

// TestDeployUnitMatchesGenerated keeps the unit shipped for installing by
// hand and the one `service install` writes the same.
func TestDeployUnitMatchesGenerated(t *testing.T) {
	want, err := deployUnit.Text()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("..", "deploy", "qs-promoter.service")
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("deploy/qs-promoter.service differs from the generated unit (go test ./service -run DeployUnit -update rewrites it):\n%s", lineDiff(string(got), want))
	}
}

func lineDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	var out []string
	for i := 0; i < max(len(al), len(bl)); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			out = append(out, fmt.Sprintf("line %d: file %q, generated %q", i+1, x, y))
		}
	}
	return strings.Join(out, "\n")
}

func TestUnitText(t *testing.T) {
	u := deployUnit
	text, err := u.Text()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Type=notify\n",
		"ExecStart=/opt/qs-promoter/qs-promoter serve --config /opt/qs-promoter/qs-promoter.yaml\n",
		"ExecReload=/bin/kill -HUP $MAINPID\n",
		"TimeoutStopSec=60s\n", // drain_timeout 30s + 30s
		"User=qs-promoter\n",
		"NoNewPrivileges=yes\n",
		"ProtectSystem=strict\n",
		"ReadWritePaths=/opt/qs-promoter/data\n",
		"EnvironmentFile=-/etc/qs-promoter/qs-promoter.env\n",
		"WatchdogSec=1min\n",
		"CapabilityBoundingSet=\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("unit lacks %q", want)
		}
	}

	// Paths with spaces, specifiers and dollars; a low port.
	u = Unit{Binary: "/srv/qs promoter/qs-promoter", Config: "/srv/qs promoter/100%.yaml", StateDir: "/srv/$data",
		User: "svc", Listen: "0.0.0.0:443", DrainTimeout: 2 * time.Minute}
	text, err = u.Text()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`ExecStart="/srv/qs promoter/qs-promoter" serve --config "/srv/qs promoter/100%%.yaml"` + "\n",
		"ReadWritePaths=/srv/$$data\n",
		"TimeoutStopSec=150s\n",
		"AmbientCapabilities=CAP_NET_BIND_SERVICE\nCapabilityBoundingSet=CAP_NET_BIND_SERVICE\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("unit lacks %q:\n%s", want, text)
		}
	}

	for _, bad := range []struct {
		u    Unit
		want string
	}{
		{Unit{Binary: "qs-promoter", Config: "/c.yaml", StateDir: "/d", DrainTimeout: time.Second}, `"qs-promoter" is not an absolute path`},
		{Unit{Binary: "/q", Config: "/c\n.yaml", StateDir: "/d", DrainTimeout: time.Second}, "holds a line break"},
		{Unit{Binary: "/q", Config: "/c.yaml", StateDir: "/d"}, "drain_timeout must be positive"},
	} {
		if _, err := bad.u.Text(); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%+v: %v, want %q", bad.u, err, bad.want)
		}
	}
}

// TestUnitVerifies runs systemd-analyze verify on the generated unit, when
// the machine has it: an unknown key or a bad value is a finding.
func TestUnitVerifies(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("systemd-analyze is not installed")
	}
	dir := t.TempDir()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []Unit{
		{Binary: exe, Config: filepath.Join(dir, "qs-promoter.yaml"), StateDir: dir, User: "root", Listen: ":5000", DrainTimeout: 30 * time.Second},
		{Binary: exe, Config: filepath.Join(dir, "a b", "100%.yaml"), StateDir: filepath.Join(dir, "a b"), User: "root", Listen: ":443", DrainTimeout: time.Minute},
	} {
		text, err := u.Text()
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, unitFile)
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("systemd-analyze", "verify", "--man=no", path).CombinedOutput()
		if err != nil || len(bytes.TrimSpace(out)) > 0 {
			t.Errorf("systemd-analyze verify: %v\n%s\n%s", err, out, text)
		}
	}
}

func TestParseEnvVar(t *testing.T) {
	v, err := ParseEnvVar("SMTP_PASSWORD=p=a ss")
	if err != nil || v != (EnvVar{"SMTP_PASSWORD", "p=a ss"}) {
		t.Errorf("got %+v %v", v, err)
	}
	if v, err := ParseEnvVar("EMPTY="); err != nil || v.Value != "" {
		t.Errorf("empty value: %+v %v", v, err)
	}
	for in, want := range map[string]string{
		"SMTP_PASSWORD": `--env "SMTP_PASSWORD": want NAME=VALUE`,
		"1X=y":          `--env: "1X" is not a variable name`,
		"A-B=y":         `--env: "A-B" is not a variable name`,
		"=y":            `--env: "" is not a variable name`,
		"K=line\nbreak": "--env K: the value holds a line break or NUL",
	} {
		if _, err := ParseEnvVar(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
}

func TestEnvFileRoundTrip(t *testing.T) {
	vars := []EnvVar{
		{"PLAIN", "secret"},
		{"HARD", `a "quoted" $HOME \n back\slash ` + "`cmd`" + ` 'single' =x  spaces  `},
		{"EMPTY", ""},
		{"UNICODE", "pässwörd€"},
	}
	b := formatEnvFile(vars)
	got, err := parseEnvFile(b)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(vars) {
		t.Errorf("round trip:\n%q\n%q\nfile:\n%s", got, vars, b)
	}
	// Lines written by hand.
	got, err = parseEnvFile([]byte("# comment\n\nA=plain value\nB='single $x'\n; also a comment\n"))
	if err != nil || fmt.Sprint(got) != fmt.Sprint([]EnvVar{{"A", "plain value"}, {"B", "single $x"}}) {
		t.Errorf("hand-written: %q %v", got, err)
	}
	if _, err := parseEnvFile([]byte("A=1\nnot a line\n")); err == nil || err.Error() != "line 2: want NAME=VALUE" {
		t.Errorf("bad line: %v", err)
	}
}

func TestMergeEnv(t *testing.T) {
	old := []EnvVar{{"A", "1"}, {"Path_X", "2"}}
	got := mergeEnv(old, []EnvVar{{"B", "3"}, {"A", "4"}}, false)
	if fmt.Sprint(got) != "[{A 4} {Path_X 2} {B 3}]" {
		t.Errorf("merge: %v", got)
	}
	if fmt.Sprint(old) != "[{A 1} {Path_X 2}]" {
		t.Errorf("merge changed its input: %v", old)
	}
	if got := mergeEnv(old, []EnvVar{{"PATH_X", "5"}}, true); fmt.Sprint(got) != "[{A 1} {PATH_X 5}]" {
		t.Errorf("case-insensitive merge (Windows): %v", got)
	}
}

// fakeMachine is a systemdHost on folders, recording the commands it runs.
type fakeMachine struct {
	h        *systemdHost
	out      bytes.Buffer
	commands []string
	users    map[string]*user.User
	chowned  map[string]string
	failOn   string // a command prefix that fails
}

func newFakeMachine(t *testing.T) *fakeMachine {
	root := t.TempDir()
	m := &fakeMachine{users: map[string]*user.User{}, chowned: map[string]string{}}
	m.h = &systemdHost{
		unitDir: filepath.Join(root, "etc/systemd/system"), envDir: filepath.Join(root, "etc/qs-promoter"), out: &m.out,
		run: func(name string, args ...string) ([]byte, error) {
			cmd := strings.Join(append([]string{name}, args...), " ")
			m.commands = append(m.commands, cmd)
			if m.failOn != "" && strings.HasPrefix(cmd, m.failOn) {
				return []byte("Failed to start qs-promoter.service: Unit failed."), errors.New("exit status 1")
			}
			if name == "useradd" {
				u := args[len(args)-1]
				m.users[u] = &user.User{Username: u, Uid: "990", Gid: "990"}
			}
			return nil, nil
		},
		lookupUser: func(name string) (*user.User, error) {
			if u, ok := m.users[name]; ok {
				return u, nil
			}
			return nil, user.UnknownUserError(name)
		},
		chown: func(path string, uid, gid int) error {
			m.chowned[path] = fmt.Sprintf("%d:%d", uid, gid)
			return nil
		},
	}
	os.MkdirAll(m.h.unitDir, 0o755)
	return m
}

func TestSystemdInstallUninstall(t *testing.T) {
	m := newFakeMachine(t)
	state := filepath.Join(t.TempDir(), "data")
	opts := InstallOptions{Binary: "/opt/qs-promoter/qs-promoter", Config: "/opt/qs-promoter/qs-promoter.yaml", StateDir: state,
		Listen: ":5000", DrainTimeout: 30 * time.Second, Out: &m.out,
		Env: []EnvVar{{"SMTP_PASSWORD", "s3cr3t-smtp"}, {"AWS_SECRET_ACCESS_KEY", "s3cr3t-aws"}}}

	m.h.euid = 1000
	if err := m.h.Install(opts); err == nil || !strings.Contains(err.Error(), "service install needs root: run it with sudo") {
		t.Fatalf("as a user: %v", err)
	}
	if len(m.commands) > 0 || fileExists(m.h.unitPath()) || fileExists(state) {
		t.Fatal("a refused install changed something")
	}

	m.h.euid = 0
	if err := m.h.Install(opts); err != nil {
		t.Fatal(err)
	}
	wantCmds := []string{
		"useradd --system --user-group --no-create-home --home-dir " + state + " --shell /usr/sbin/nologin qs-promoter",
		"systemctl daemon-reload",
		"systemctl enable qs-promoter.service",
	}
	if strings.Join(m.commands, "\n") != strings.Join(wantCmds, "\n") {
		t.Errorf("commands:\n%s\nwant:\n%s", strings.Join(m.commands, "\n"), strings.Join(wantCmds, "\n"))
	}
	unit, _ := os.ReadFile(m.h.unitPath())
	want, _ := Unit{Binary: opts.Binary, Config: opts.Config, StateDir: state, User: "qs-promoter", Listen: ":5000", DrainTimeout: 30 * time.Second}.Text()
	if string(unit) != want {
		t.Errorf("unit file:\n%s", lineDiff(string(unit), want))
	}
	if m.chowned[state] != "990:990" {
		t.Errorf("state folder not given to the service user: %v", m.chowned)
	}
	st, err := os.Stat(m.h.envPath())
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("environment file: %v %v, want mode 0600", st, err)
	}
	env, err := m.h.Environment()
	if err != nil || fmt.Sprint(env) != fmt.Sprint(opts.Env) {
		t.Errorf("stored environment %v %v", env, err)
	}
	if strings.Contains(m.out.String(), "s3cr3t") {
		t.Errorf("install printed a secret:\n%s", m.out.String())
	}
	for _, s := range []string{"created the system user qs-promoter", "stored SMTP_PASSWORD, AWS_SECRET_ACCESS_KEY in", "installed " + m.h.unitPath(), "next: qs-promoter service start"} {
		if !strings.Contains(m.out.String(), s) {
			t.Errorf("output lacks %q:\n%s", s, m.out.String())
		}
	}

	// Again, with one variable changed: merged, the user kept, "updated".
	m.out.Reset()
	m.commands = nil
	opts.Env = []EnvVar{{"SMTP_PASSWORD", "rotated"}}
	if err := m.h.Install(opts); err != nil {
		t.Fatal(err)
	}
	env, _ = m.h.Environment()
	if fmt.Sprint(env) != "[{SMTP_PASSWORD rotated} {AWS_SECRET_ACCESS_KEY s3cr3t-aws}]" {
		t.Errorf("after the second install: %v", env)
	}
	if strings.HasPrefix(strings.Join(m.commands, " "), "useradd") || !strings.Contains(m.out.String(), "updated ") {
		t.Errorf("second install: %v\n%s", m.commands, m.out.String())
	}

	m.commands = nil
	m.out.Reset()
	if err := m.h.Uninstall(); err != nil {
		t.Fatal(err)
	}
	if strings.Join(m.commands, "\n") != "systemctl disable --now qs-promoter.service\nsystemctl daemon-reload" {
		t.Errorf("uninstall commands: %q", m.commands)
	}
	if fileExists(m.h.unitPath()) || fileExists(m.h.envPath()) {
		t.Error("uninstall left the unit or the environment file")
	}
	if !fileExists(state) {
		t.Error("uninstall removed the state folder")
	}
	if err := m.h.Uninstall(); err == nil || !strings.Contains(err.Error(), "qs-promoter.service is not installed") {
		t.Errorf("second uninstall: %v", err)
	}
}

func TestSystemdInstallRejects(t *testing.T) {
	m := newFakeMachine(t)
	m.h.euid = 0
	opts := InstallOptions{Binary: "/q", Config: "/c.yaml", StateDir: filepath.Join(t.TempDir(), "d"), DrainTimeout: time.Second, Out: &m.out}
	opts.User = "Bad User"
	if err := m.h.Install(opts); err == nil || !strings.Contains(err.Error(), `--user "Bad User" is not a Linux user name`) {
		t.Errorf("bad user: %v", err)
	}
	opts.User = "root"
	m.users["root"] = &user.User{Username: "root", Uid: "0", Gid: "0"}
	if err := m.h.Install(opts); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(m.out.String(), "warning: the service runs as root") {
		t.Errorf("no warning for root:\n%s", m.out.String())
	}
}

func TestSystemdStartFailureSaysWhereToLook(t *testing.T) {
	m := newFakeMachine(t)
	m.failOn = "systemctl start"
	err := m.h.Start()
	if err == nil || !strings.Contains(err.Error(), "systemctl start qs-promoter.service: Failed to start qs-promoter.service: Unit failed.\nwhy: journalctl -u qs-promoter.service -e") {
		t.Errorf("start failure: %v", err)
	}
}

func TestSystemdStatus(t *testing.T) {
	m := newFakeMachine(t)
	show := "LoadState=loaded\nActiveState=active\nSubState=running\nMainPID=4242\nStatusText=serving on [::]:5000\nActiveEnterTimestamp=Tue 2026-12-01 10:00:00 UTC\nFragmentPath=/etc/systemd/system/qs-promoter.service\nUser=qs-promoter\n"
	m.h.run = func(name string, args ...string) ([]byte, error) { return []byte(show), nil }
	st, err := m.h.Status()
	if err != nil {
		t.Fatal(err)
	}
	want := "qs-promoter.service: active (running) since Tue 2026-12-01 10:00:00 UTC, pid 4242\nstatus: serving on [::]:5000\nunit: /etc/systemd/system/qs-promoter.service (user qs-promoter)\nlog: journalctl -u qs-promoter.service\n"
	if !st.Installed || !st.Running || st.Text != want {
		t.Errorf("status %+v\nwant text:\n%s", st, want)
	}
	show = "LoadState=not-found\nActiveState=inactive\nSubState=dead\nMainPID=0\n"
	st, err = m.h.Status()
	if err != nil || st.Installed || st.Running || !strings.Contains(st.Text, "is not installed") {
		t.Errorf("not installed: %+v %v", st, err)
	}
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func TestSystemdEnvironmentNeedsRoot(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads any file")
	}
	m := newFakeMachine(t)
	os.MkdirAll(m.h.envDir, 0o700)
	os.WriteFile(m.h.envPath(), []byte("A=1\n"), 0o000)
	if _, err := m.h.Environment(); err == nil || !strings.Contains(err.Error(), "is root's: run this with sudo") {
		t.Errorf("unreadable environment file: %v", err)
	}
}
