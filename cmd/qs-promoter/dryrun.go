package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/qs-promoter/qs-promoter/actions"
	"github.com/qs-promoter/qs-promoter/daemon"
	"github.com/qs-promoter/qs-promoter/engine"
	"github.com/qs-promoter/qs-promoter/qrs"
)

func init() {
	commands["dry-run"] = command{summary: "show what the policies would do for a recorded event (writes nothing)", run: runDryRun}
}

func runDryRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("dry-run", "dry-run (--event FILE | --live --config FILE --site ALIAS --app ID [--kind K]) [--policies DIR] [--sites a,b] [--json]", stderr)
	pf := addPolicyFlags(fs)
	eventPath := fs.String("event", "", "recorded event (JSON) to evaluate")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	live := fs.Bool("live", false, "read the facts from a live site instead of --event (needs --config, --site, --app)")
	site := fs.String("site", "", "with --live: the site alias")
	app := fs.String("app", "", "with --live: the app ID")
	kind := fs.String("kind", engine.KindUpdated, "with --live: the event kind to evaluate as")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *live != (*eventPath == "") || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "dry-run needs --event FILE (a recorded event), or --live with --config, --site and --app")
		fs.Usage()
		return errUsage
	}
	opts, dir, cfg, err := pf.options("")
	if err != nil {
		return printProblems(stderr, err)
	}
	rs, err := engine.Load(dir, opts)
	if err != nil {
		return printProblems(stderr, err)
	}
	// Actions without mail or S3, and with read-only sites in --live; from a
	// recorded event they contact nothing at all. A dry-run never writes.
	deps := actions.Deps{Log: slog.New(slog.DiscardHandler), Offline: !*live}
	var ev *engine.Event
	if *live {
		if cfg == nil || *site == "" || *app == "" {
			fmt.Fprintln(stderr, "dry-run --live needs --config FILE, --site ALIAS and --app ID")
			return errUsage
		}
		if deps.Sites, err = readOnlySites(cfg); err != nil {
			return err
		}
		if ev, err = liveEvent(ctx, deps.Sites, *site, *app, *kind); err != nil {
			return err
		}
	} else if ev, err = engine.ReadEventFile(*eventPath); err != nil {
		return err
	}
	facts, err := engine.NewFacts(ev, rs.Config())
	if err != nil {
		return err
	}
	acts := actions.New(deps)
	rep, err := rs.Execute(ctx, facts, acts, engine.ExecOptions{ExecutionID: "dry-run", DryRun: true})
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(dryRunJSON{Event: facts.Event, App: appSummary{facts.App.ID, facts.App.Name}, Report: rep})
	}
	if cfg == nil {
		fmt.Fprintln(stdout, "config: no --config, so config.<key> are the defaults, with mail_enabled true and s3_enabled false")
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
			if len(names) > 0 {
				fmt.Fprintln(w, "       with:")
			}
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
		fmt.Fprintf(w, "         %s: %s\n", name, strings.TrimRight(text, "\n"))
		return
	}
	fmt.Fprintf(w, "         %s: |\n", name)
	for _, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		fmt.Fprintf(w, "           %s\n", line)
	}
}

// readOnlySites connects to every configured site with a client that
// refuses writes.
func readOnlySites(cfg *daemon.Config) (map[string]*qrs.Client, error) {
	out := make(map[string]*qrs.Client, len(cfg.Sites))
	for _, s := range cfg.Sites {
		c, err := qrs.NewClient(cfg.QRSConfig(s))
		if err != nil {
			return nil, err
		}
		out[s.Alias] = c.ReadOnly()
	}
	return out, nil
}

// liveEvent reads an app, its stream and its owner from a site, as the
// daemon does when it handles a notification.
func liveEvent(ctx context.Context, sites map[string]*qrs.Client, site, appID, kind string) (*engine.Event, error) {
	c, ok := sites[site]
	if !ok {
		return nil, fmt.Errorf("--site %q is not in the configuration's sites", site)
	}
	if !slices.Contains(engine.EventKinds, kind) {
		return nil, fmt.Errorf("--kind %q is not one of %s", kind, strings.Join(engine.EventKinds, ", "))
	}
	a, err := c.App(ctx, appID)
	if err != nil {
		return nil, fmt.Errorf("reading app %s on site %s: %w", appID, site, err)
	}
	ev := &engine.Event{Site: site, ReceivedAt: time.Now().UTC(), Kind: kind, App: a}
	if a.Stream != nil && a.Stream.ID != "" {
		if ev.Stream, err = c.Stream(ctx, a.Stream.ID); err != nil {
			return nil, fmt.Errorf("reading the app's stream on site %s: %w", site, err)
		}
	}
	if a.Owner.ID != "" {
		if ev.Owner, err = c.User(ctx, a.Owner.ID); err != nil {
			return nil, fmt.Errorf("reading the app's owner on site %s: %w", site, err)
		}
	}
	return ev, nil
}
