package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// Set at build time to override what the build information says:
// -ldflags "-X main.version=v1.2.3 -X main.commit=… -X main.date=…".
var version, commit, date string

func init() {
	commands["version"] = command{summary: "print the version, the commit and its date, and the Go version", run: runVersion}
}

func runVersion(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("version", "version", stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	bi, _ := debug.ReadBuildInfo()
	fmt.Fprint(stdout, versionText(bi, version, commit, date))
	return nil
}

// versionText describes the build from its build information (the module
// version, the VCS commit and its time, whether the tree was modified, the
// Go version), with the ldflags-stamped values, when given, taking
// precedence.
func versionText(bi *debug.BuildInfo, version, commit, date string) string {
	modified, goVersion := false, runtime.Version()
	if bi != nil {
		goVersion = bi.GoVersion
		if version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if commit == "" {
					commit = s.Value
				}
			case "vcs.time":
				if date == "" {
					date = s.Value
				}
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	if version == "" {
		version = "dev"
	}
	c := commit
	switch {
	case c == "":
		c = "unknown (built without version control information)"
	case modified:
		c += " (with uncommitted changes)"
	}
	if date == "" {
		date = "unknown"
	}
	return fmt.Sprintf("qs-promoter %s\ncommit:  %s\ndate:    %s\ngo:      %s %s/%s\n", version, c, date, goVersion, runtime.GOOS, runtime.GOARCH)
}
