package main

import (
	"context"
	"io"
	"os"

	"github.com/qs-promoter/qs-promoter/demo"
)

func init() {
	commands["demo"] = command{summary: "play the whole approval workflow on simulated sites, checking every outcome", run: runDemo}
}

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo", "demo [--keep] [--dir DIR]", stderr)
	keep := fs.Bool("keep", false, "leave the sites, the daemon, SMTP and S3 running afterwards, and print how to look around")
	dir := fs.String("dir", "", "working folder for certificates, configuration, policies, state and logs (default: a temporary one)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return errUsage
	}
	return demo.Run(ctx, demo.RunOptions{Out: stdout, Live: isTerminal(stdout), Keep: *keep, Dir: *dir})
}

// isTerminal reports whether w is a terminal (the progress line is then
// rewritten in place).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
