package main

import (
	"regexp"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
)

// Without a command, the usage goes to stderr and the exit status is 2 (a
// usage error, as for an unknown command); help asked for exits 0.
func TestNoCommandIsAUsageError(t *testing.T) {
	code, out, errOut := runCmd(t)
	if code != 2 || out != "" || !strings.Contains(errOut, "Usage: qs-promoter <command> [flags]") || !strings.Contains(errOut, "  version   print the version") {
		t.Errorf("no command: exit %d\nstdout %q\nstderr %q", code, out, errOut)
	}
	for _, h := range []string{"help", "-h", "--help"} {
		if code, out, _ := runCmd(t, h); code != 0 || !strings.Contains(out, "Usage: qs-promoter <command> [flags]") {
			t.Errorf("%s: exit %d %q", h, code, out)
		}
	}
}

// version reads the build information; values stamped with -ldflags win.
func TestVersionText(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v1.4.0"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567"},
		{Key: "vcs.time", Value: "2026-11-27T09:30:05Z"},
		{Key: "vcs.modified", Value: "true"},
	}}
	platform := runtime.GOOS + "/" + runtime.GOARCH
	want := "qs-promoter v1.4.0\ncommit:  0a1b2c3d4e5f60718293a4b5c6d7e8f901234567 (with uncommitted changes)\ndate:    2026-11-27T09:30:05Z\ngo:      go1.26.0 " + platform + "\n"
	if got := versionText(bi, "", "", ""); got != want {
		t.Errorf("from the build information:\n%s\nwant\n%s", got, want)
	}
	want = "qs-promoter v2.0.0\ncommit:  abc1234 (with uncommitted changes)\ndate:    2027-01-01\ngo:      go1.26.0 " + platform + "\n"
	if got := versionText(bi, "v2.0.0", "abc1234", "2027-01-01"); got != want {
		t.Errorf("stamped:\n%s\nwant\n%s", got, want)
	}
	want = "qs-promoter dev\ncommit:  unknown (built without version control information)\ndate:    unknown\ngo:      go1.26.0 " + platform + "\n"
	if got := versionText(&debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"}}, "", "", ""); got != want {
		t.Errorf("no VCS information:\n%s\nwant\n%s", got, want)
	}
	code, out, _ := runCmd(t, "version")
	if code != 0 || !strings.HasPrefix(out, "qs-promoter ") || !strings.Contains(out, "\ngo:      "+runtime.Version()) {
		t.Errorf("version: %d %q", code, out)
	}
}

// Every command's -h shows its usage line and every flag, and the usage
// line names no flag the command lacks nor leaves one out.
func TestEveryHelpShowsItsFlags(t *testing.T) {
	flagLine := regexp.MustCompile(`(?m)^  -([a-z-]+)`)
	inUsage := regexp.MustCompile(`(?:^| |\[|\(|\|)--?([a-z][a-z-]*)`)
	for name := range commands {
		t.Run(name, func(t *testing.T) {
			code, out, errOut := runCmd(t, name, "-h")
			if code != 0 || out != "" || !strings.HasPrefix(errOut, "Usage: qs-promoter "+name) {
				t.Fatalf("exit %d\nstdout %q\nstderr %q", code, out, errOut)
			}
			usageLine, rest, _ := strings.Cut(errOut, "\n")
			var flags []string
			for _, m := range flagLine.FindAllStringSubmatch(rest, -1) {
				flags = append(flags, m[1])
			}
			if len(flags) == 0 && !strings.Contains(rest, "It takes no flags.") {
				t.Errorf("neither flags nor \"It takes no flags.\":\n%s", errOut)
			}
			var named []string
			for _, m := range inUsage.FindAllStringSubmatch(strings.TrimPrefix(usageLine, "Usage: qs-promoter "+name), -1) {
				named = append(named, m[1])
			}
			for _, f := range flags {
				if !slices.Contains(named, f) {
					t.Errorf("the usage line does not name -%s: %s", f, usageLine)
				}
			}
			for _, f := range named {
				if !slices.Contains(flags, f) {
					t.Errorf("the usage line names --%s, which is no flag: %s", f, usageLine)
				}
			}
		})
	}
}
