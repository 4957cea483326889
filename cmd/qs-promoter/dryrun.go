package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

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
	var ev *engine.Event
	var sites map[string]*qrs.Client // nil: from a recorded event the actions contact nothing
	if *live {
		if cfg == nil || *site == "" || *app == "" {
			fmt.Fprintln(stderr, "dry-run --live needs --config FILE, --site ALIAS and --app ID")
			return errUsage
		}
		if sites, err = readOnlySites(cfg); err != nil {
			return err
		}
		if ev, err = liveEvent(ctx, sites, *site, *app, *kind); err != nil {
			return err
		}
	} else if ev, err = engine.ReadEventFile(*eventPath); err != nil {
		return err
	}
	// A dry-run never writes: read-only sites in --live, mail, S3 and
	// webhooks by name only (the configuration names the bucket, the
	// webhooks and their formats in plans).
	acts, err := daemon.DryRunActions(cfg, sites)
	if err != nil {
		return err
	}
	facts, err := engine.NewFacts(ev, rs.Config())
	if err != nil {
		return err
	}
	rep, err := rs.Execute(ctx, facts, acts, engine.ExecOptions{ExecutionID: "dry-run", DryRun: true})
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(newDryRunJSON(facts, rep))
	}
	if cfg == nil {
		fmt.Fprintln(stdout, "config: no --config, so config.<key> are the defaults, with mail_enabled true and s3_enabled false")
	}
	printReport(stdout, rs, facts, rep)
	return nil
}

// dryRunJSON is the report as --json prints it: every action's params are
// those the policy gives, the spec's defaults apart, and its plan's preview
// (an e-mail's to, cc, subject and body) is on the action's entry.
type dryRunJSON struct {
	Event engine.EventFacts `json:"event"`
	App   appSummary        `json:"app"`
	*engine.Report
	Policies []policyJSON `json:"policies"`
}

type policyJSON struct {
	engine.PolicyReport
	Actions []actionJSON `json:"actions"`
}

type actionJSON struct {
	Policy   string                `json:"policy"`
	ID       string                `json:"id"`
	Action   string                `json:"action"`
	Params   map[string]any        `json:"params"`
	Defaults map[string]any        `json:"defaults,omitempty"`
	Result   engine.Result         `json:"result"`
	Err      string                `json:"error,omitempty"`
	Skipped  bool                  `json:"skipped,omitempty"`
	NotRun   bool                  `json:"not_run,omitempty"`
	Duration time.Duration         `json:"duration_ns"`
	preview  []engine.PreviewField // added as the entry's own fields
}

// entryKeys are the JSON keys of an action's entry, which a preview field
// may not take.
var entryKeys = []string{"policy", "id", "action", "params", "defaults", "result", "error", "skipped", "not_run", "duration_ns"}

// MarshalJSON adds the preview's fields to the entry (one named like an
// entry key as "preview_<name>").
func (a actionJSON) MarshalJSON() ([]byte, error) {
	type plain actionJSON // without this method
	b, err := json.Marshal(plain(a))
	if err != nil || len(a.preview) == 0 {
		return b, err
	}
	var extra bytes.Buffer
	for _, f := range a.preview {
		v, err := json.Marshal(f.Value)
		if err != nil {
			return nil, err
		}
		key := f.Name
		if slices.Contains(entryKeys, key) {
			key = "preview_" + key
		}
		name, _ := json.Marshal(key)
		fmt.Fprintf(&extra, ",%s:%s", name, v)
	}
	return append(append(b[:len(b)-1], extra.Bytes()...), '}'), nil
}

func newDryRunJSON(f *engine.Facts, rep *engine.Report) dryRunJSON {
	out := dryRunJSON{Event: f.Event, App: appSummary{f.App.ID, f.App.Name}, Report: rep, Policies: []policyJSON{}}
	for _, p := range rep.Policies {
		pj := policyJSON{PolicyReport: p, Actions: []actionJSON{}}
		for _, s := range p.Steps {
			given, defaults := s.SplitParams()
			pj.Actions = append(pj.Actions, actionJSON{Policy: s.Policy, ID: s.ID, Action: s.Action, Params: given, Defaults: defaults,
				Result: s.Result, Err: s.Err, Skipped: s.Skipped, NotRun: s.NotRun, Duration: s.Duration, preview: s.Result.Preview})
		}
		out.Policies = append(out.Policies, pj)
	}
	return out
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
			if len(s.Result.Preview) > 0 {
				fmt.Fprintln(w, "       preview:")
			}
			for _, f := range s.Result.Preview {
				printParam(w, f.Name, f.Value)
			}
			given, defaults := s.SplitParams()
			if len(given) > 0 {
				fmt.Fprintln(w, "       with:")
			}
			for _, n := range sortedKeys(given) {
				printParam(w, n, given[n])
			}
			if len(defaults) > 0 {
				parts := make([]string, 0, len(defaults))
				for _, n := range sortedKeys(defaults) {
					parts = append(parts, n+": "+paramText(defaults[n]))
				}
				fmt.Fprintf(w, "       defaults: %s\n", strings.Join(parts, ", "))
			}
		}
	}
}

func sortedKeys(m map[string]any) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func printParam(w io.Writer, name string, v any) {
	text := paramText(v)
	if !strings.Contains(strings.TrimRight(text, "\n"), "\n") {
		fmt.Fprintf(w, "         %s: %s\n", name, strings.TrimRight(text, "\n"))
		return
	}
	fmt.Fprintf(w, "         %s: |\n", name)
	for _, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		if line == "" {
			fmt.Fprintln(w)
			continue
		}
		fmt.Fprintf(w, "           %s\n", line)
	}
}

// paramText is a parameter's value as dry-run prints it.
func paramText(v any) string {
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
	return text
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

// liveEvent reads an app, its stream and its owner from a site as the
// daemon does when it handles a notification (daemon.ReadEvent).
func liveEvent(ctx context.Context, sites map[string]*qrs.Client, site, appID, kind string) (*engine.Event, error) {
	c, ok := sites[site]
	if !ok {
		return nil, fmt.Errorf("--site %q is not in the configuration's sites", site)
	}
	if !slices.Contains(engine.EventKinds, kind) {
		return nil, fmt.Errorf("--kind %q is not one of %s", kind, strings.Join(engine.EventKinds, ", "))
	}
	ev, err := daemon.ReadEvent(ctx, c, site, appID)
	if qrs.IsNotFound(err) {
		return nil, fmt.Errorf("%w\n(--app takes the ID of an app on site %s, as the QMC shows it; the daemon skips an app that no longer exists)", err, site)
	}
	if err != nil {
		return nil, err
	}
	ev.ReceivedAt, ev.Kind = time.Now().UTC(), kind
	return ev, nil
}
