package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"

	"github.com/qs-promoter/qs-promoter/actions"
	"github.com/qs-promoter/qs-promoter/engine"
)

func init() {
	commands["dry-run"] = command{summary: "show what the policies would do for a recorded event (writes nothing)", run: runDryRun}
}

func runDryRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("dry-run", "dry-run --event FILE [--policies DIR] [--config FILE] [--sites a,b] [--json]", stderr)
	pf := addPolicyFlags(fs)
	eventPath := fs.String("event", "", "recorded event (JSON) to evaluate")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	live := fs.Bool("live", false, "read the facts from a live site instead of --event (needs --config, --site, --app)")
	site := fs.String("site", "", "with --live: the site alias")
	app := fs.String("app", "", "with --live: the app ID")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *live {
		// TODO(lead): wire --live: read-only qrs clients from the config
		// (refusing writes), read the app/stream/owner of --app on --site into
		// an engine.Event, and pass the clients as actions.Deps.Sites.
		_, _ = site, app
		return errors.New("--live is not wired yet: record the event with curl (see docs/policy-language.md) and use --event")
	}
	if *eventPath == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "dry-run needs --event FILE (a recorded event)")
		fs.Usage()
		return errUsage
	}
	opts, dir, _, err := pf.options("")
	if err != nil {
		return printProblems(stderr, err)
	}
	rs, err := engine.Load(dir, opts)
	if err != nil {
		return printProblems(stderr, err)
	}
	ev, err := engine.ReadEventFile(*eventPath)
	if err != nil {
		return err
	}
	facts, err := engine.NewFacts(ev, opts.Config)
	if err != nil {
		return err
	}
	// Actions without sites, mail or S3: a dry-run never writes anywhere.
	acts := actions.New(actions.Deps{Log: slog.New(slog.DiscardHandler)})
	rep, err := rs.Execute(ctx, facts, acts, engine.ExecOptions{ExecutionID: "dry-run", DryRun: true})
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(dryRunJSON{Event: facts.Event, App: appSummary{facts.App.ID, facts.App.Name}, Report: rep})
	}
	printReport(stdout, rs, facts, rep)
	return nil
}

type dryRunJSON struct {
	Event engine.EventFacts `json:"event"`
	App   appSummary        `json:"app"`
	*engine.Report
}

type appSummary struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

func printReport(w io.Writer, rs *engine.Ruleset, f *engine.Facts, rep *engine.Report) {
	fmt.Fprintf(w, "event: %s on site %s for app %q (%s)\n", strings.Join(f.Event.Kinds, ", "), f.Event.Site, f.App.Name, f.App.ID)
	fmt.Fprintf(w, "policies: %d in %d files (revision %s)\n", len(rs.Policies), len(rs.Files), rs.Revision)
	for _, p := range rep.Policies {
		fmt.Fprintln(w)
		if !p.Matched {
			fmt.Fprintf(w, "- %s: no match: %s\n", p.Name, p.Reason)
			continue
		}
		fmt.Fprintf(w, "+ %s: MATCH: %s\n", p.Name, p.Reason)
		if p.Err != "" {
			fmt.Fprintf(w, "    error: %s\n", p.Err)
		}
		for i, s := range p.Steps {
			state := string(s.Result.Status)
			fmt.Fprintf(w, "  %d. %s (%s) %s", i+1, s.ID, s.Action, state)
			if s.Result.Summary != "" {
				fmt.Fprintf(w, ": %s", s.Result.Summary)
			}
			fmt.Fprintln(w)
			if s.Err != "" && !strings.Contains(s.Result.Summary, s.Err) {
				fmt.Fprintf(w, "       error: %s\n", s.Err)
			}
			for _, d := range s.Result.Details {
				fmt.Fprintf(w, "       %s\n", d)
			}
			names := make([]string, 0, len(s.Params))
			for n := range s.Params {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				printParam(w, n, s.Params[n])
			}
		}
	}
}

func printParam(w io.Writer, name string, v any) {
	var text string
	switch v := v.(type) {
	case string:
		text = v
	case []string:
		text = "[" + strings.Join(v, ", ") + "]"
	case []engine.Target:
		parts := make([]string, len(v))
		for i, t := range v {
			parts[i] = t.String()
		}
		text = "[" + strings.Join(parts, ", ") + "]"
	default:
		b, err := json.Marshal(v)
		if err != nil {
			text = fmt.Sprint(v)
		} else {
			text = string(b)
		}
	}
	if !strings.Contains(strings.TrimRight(text, "\n"), "\n") {
		fmt.Fprintf(w, "       %s: %s\n", name, strings.TrimRight(text, "\n"))
		return
	}
	fmt.Fprintf(w, "       %s: |\n", name)
	for _, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		fmt.Fprintf(w, "         %s\n", line)
	}
}
