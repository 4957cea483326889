package main

import (
	"context"
	"fmt"
	"io"
	"os/user"

	"github.com/qs-promoter/qs-promoter/daemon"
)

func init() {
	commands["retry"] = command{summary: "run a failed execution again (its finished steps are not run again)", run: runRetry}
}

// runRetry queues a failed execution again in the daemons' database, where
// a running daemon takes it up: the same execution as the console's Retry
// button, without a login, for an admin on the machine that holds the
// configuration (and so the database).
func runRetry(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("retry", "retry [--config FILE] EXECUTION-ID", stderr)
	cfgPath := fs.String("config", "qs-promoter.yaml", "the daemon's configuration file (its database is used)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "qs-promoter retry: name one execution ID (as in the failure e-mail, the audit log, /status or the console)")
		fs.Usage()
		return errUsage
	}
	cfg, err := daemon.LoadConfig(*cfgPath)
	if err != nil {
		return printProblems(stderr, err)
	}
	by := "qs-promoter retry"
	if u, err := user.Current(); err == nil {
		by += " (" + u.Username + ")"
	}
	e, err := daemon.RetryBeside(ctx, cfg, fs.Arg(0), by)
	if e == nil {
		return err
	}
	name := e.AppName
	if name == "" {
		name = e.AppID
	}
	fmt.Fprintf(stdout, "execution %s (app '%s' on site %s) is queued again with %d attempts; a running daemon takes it up, and its finished steps are not run again\n",
		e.ID, name, e.Site, cfg.MaxAttempts)
	return err
}
