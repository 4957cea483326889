package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/qs-promoter/qs-promoter/audit"
	"github.com/qs-promoter/qs-promoter/daemon"
	"github.com/qs-promoter/qs-promoter/store"
)

func init() {
	commands["audit"] = command{summary: "export the audit records (audit export --since DAY --format csv|jsonl)", run: runAudit}
}

func runAudit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("audit export", "audit export --config FILE --since DAY [--until DAY] [--format csv|jsonl] [--type T] [--user U] [--policy P] [--app TEXT] [--out FILE]", stderr)
	switch {
	case len(args) > 0 && args[0] == "export":
		args = args[1:]
	case len(args) > 0 && (args[0] == "-h" || args[0] == "--help"):
	default:
		fmt.Fprintln(stderr, "audit: the subcommand is export (qs-promoter audit export -h)")
		return errUsage
	}
	config := fs.String("config", "qs-promoter.yaml", "the daemon's configuration (its state_dir holds the records)")
	since := fs.String("since", "", "the first day exported (YYYY-MM-DD, UTC; required)")
	until := fs.String("until", "", "the last day exported (YYYY-MM-DD, UTC; default: up to now)")
	format := fs.String("format", "csv", "csv (a header, then one record a row) or jsonl (one record's JSON a line)")
	typ := fs.String("type", "", "only records of this type: decision, step or console")
	user := fs.String("user", "", "only records of this user (exactly, e.g. CORP\\sales_manager or a console user)")
	policy := fs.String("policy", "", "only records that concern this policy")
	app := fs.String("app", "", "only records of apps whose name holds this text (any case)")
	out := fs.String("out", "", "write to this file instead of standard output")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 || *since == "" {
		fmt.Fprintln(stderr, "audit export needs --since DAY (YYYY-MM-DD) and takes no arguments")
		fs.Usage()
		return errUsage
	}
	f, err := audit.ParseFormat(*format)
	if err != nil {
		return err
	}
	q := store.AuditQuery{Type: *typ, User: *user, Policy: *policy, AppName: *app, Oldest: true, Limit: 1000}
	if q.Since, err = time.Parse("2006-01-02", *since); err != nil {
		return fmt.Errorf("--since %q: want a day, YYYY-MM-DD", *since)
	}
	if *until != "" {
		if q.Until, err = time.Parse("2006-01-02", *until); err != nil {
			return fmt.Errorf("--until %q: want a day, YYYY-MM-DD", *until)
		}
		q.Until = q.Until.AddDate(0, 0, 1)
	}
	cfg, err := daemon.LoadConfig(*config)
	if err != nil {
		return printProblems(stderr, err)
	}
	st, err := daemon.OpenStoreBeside(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	w := stdout
	if *out != "" {
		file, err := os.Create(*out)
		if err != nil {
			return err
		}
		defer file.Close()
		w = file
	}
	n, err := audit.Write(w, f, st.AllAuditRecords(ctx, q))
	if err != nil {
		return fmt.Errorf("after %d records: %w", n, err)
	}
	if *out != "" {
		fmt.Fprintf(stderr, "wrote %d audit records to %s\n", n, *out)
	}
	return nil
}
