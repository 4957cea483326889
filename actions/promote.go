package actions

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/qs-promoter/qs-promoter/engine"
	"github.com/qs-promoter/qs-promoter/qrs"
)

func init() { register(func(d Deps) engine.Action { return &promote{d: d} }) }

var (
	_ engine.Action  = (*promote)(nil)
	_ engine.Planner = (*promote)(nil)
	_ offlinePlanner = (*promote)(nil)
)

// promote copies the event's app to target sites and streams, as the
// original did (seed-behaviour.md, Scenario 2 step 2), but exporting once,
// uploading once per site and copying on the site for further streams.
//
// The export is spooled to one temporary file rather than fanned out to the
// sites through pipes: QRS serves an export's download only once, so a pipe
// would tie every site to the slowest one and make a failed upload
// unrepeatable without exporting again. The file lives as long as the step,
// holds the app once, and is unlinked as soon as it is created.
type promote struct{ d Deps }

func (a *promote) Spec() engine.ActionSpec {
	return engine.ActionSpec{
		Name:    "promote",
		Summary: "Copy the app to the target sites' streams: replace same-named published apps (overwrite) or publish new ones.",
		// Not Destructive: it replaces target apps by design, and must run
		// after a failed e-mail step (on_error: continue), which a
		// destructive action never would.
		Params: []engine.Param{
			{Name: "targets", Kind: engine.KindTargets, Required: true, Doc: "target sites and modes: `\"{{ targets(app.properties.PromoteToServer) }}\"` or a list of `{site, mode}`"},
			{Name: "streams", Kind: engine.KindStrings, Required: true, Doc: "target stream names"},
			{Name: "keep_data", Kind: engine.KindBool, Default: true, Doc: "export and upload the app with its data"},
			{Name: "parallel", Kind: engine.KindInt, Default: 0, Doc: "how many target sites are worked on at once (0: all; uploads to each site are bounded by its `max_transfers`)"},
		},
		Example: `- id: promote
  action: promote
  on_error: continue          # let the results e-mail report a failed site
  with:
    targets: "{{ targets(app.properties.PromoteToServer) }}"
    streams: "{{ app.properties.PromoteToStream }}"
`,
	}
}

// promoteJob is one Plan or Run.
type promoteJob struct {
	d       Deps
	in      *engine.StepInput
	journal engine.Journal
	src     *qrs.Client
	appID   string
	name    string
	keep    bool
	targets []engine.Target
	ignored []string // targets left out, said in the result
	streams []string

	export func() (*spool, error) // exports on first call, once
	spool  *spool

	progressMu sync.Mutex // sites report from their own goroutines
}

// progressf reports progress, one report at a time.
func (j *promoteJob) progressf(format string, args ...any) {
	j.progressMu.Lock()
	defer j.progressMu.Unlock()
	j.in.Progressf(format, args...)
}

// siteOutcome is what happened (or would happen) on one target site.
type siteOutcome struct {
	site     string
	host     string
	apps     []PromotedApp
	notFound []string
	uploaded int64
	notes    []string
	err      error
}

func (a *promote) job(in *engine.StepInput) (*promoteJob, error) {
	var src *qrs.Client // offline: none, nothing is read
	var err error
	if a.d.Offline {
		_, err = eventApp(in)
	} else {
		src, err = a.d.source(in)
	}
	if err != nil {
		return nil, err
	}
	j := &promoteJob{d: a.d, in: in, journal: journalOf(in), src: src, appID: in.Facts.App.ID,
		name: in.Facts.App.Name, keep: in.Params.Bool("keep_data")}
	seen := map[string]bool{}
	for _, t := range in.Params.Targets("targets") {
		mode, err := engine.ParseMode(t.Mode)
		if err != nil {
			return nil, fmt.Errorf("target %s: %w", q(t.Site), err)
		}
		if !seen[strings.ToLower(t.Site)] {
			seen[strings.ToLower(t.Site)] = true
			j.targets = append(j.targets, engine.Target{Site: t.Site, Mode: mode})
		} else if !slices.ContainsFunc(j.targets, func(u engine.Target) bool { return strings.EqualFold(u.Site, t.Site) && u.Mode == mode }) {
			// One mode per site: overwriting and duplicating into the same
			// streams at once is almost surely a slip; say so rather than drop it silently.
			j.ignored = append(j.ignored, fmt.Sprintf("site %s is listed twice; %s is ignored (the first value, %s, is used)", t.Site, mode, j.modeOf(t.Site)))
		}
	}
	for _, s := range in.Params.Strings("streams") {
		if s = strings.TrimSpace(s); s != "" {
			j.streams = append(j.streams, s)
		}
	}
	if len(j.targets) == 0 {
		return nil, errors.New("no target site: targets is empty")
	}
	if len(j.streams) == 0 {
		return nil, errors.New("no target stream: streams is empty")
	}
	return j, nil
}

// modeOf returns the mode used for a site.
func (j *promoteJob) modeOf(site string) string {
	for _, t := range j.targets {
		if strings.EqualFold(t.Site, site) {
			return t.Mode
		}
	}
	return ""
}

func (j *promoteJob) close() {
	if j.spool != nil {
		_ = j.spool.Close()
	}
}

// siteLayout is what a target site holds: the target streams found, and in
// overwrite mode the same-named published apps in them.
type siteLayout struct {
	found    []qrs.Stream
	notFound []string
	replace  map[string][]qrs.App // stream id → apps to replace
}

func (j *promoteJob) layout(ctx context.Context, c *qrs.Client, mode string) (*siteLayout, error) {
	fs := make([]*qrs.Filter, len(j.streams))
	for i, s := range j.streams {
		fs[i] = qrs.Eq("name", s)
	}
	all, err := c.Streams(ctx, qrs.Or(fs...))
	if err != nil {
		return nil, fmt.Errorf("looking up streams: %w", err)
	}
	l := &siteLayout{replace: map[string][]qrs.App{}}
	seen := map[string]bool{}
	for _, name := range j.streams {
		n := 0
		for _, s := range all {
			if strings.EqualFold(s.Name, name) {
				n++
				if !seen[s.ID] {
					seen[s.ID] = true
					l.found = append(l.found, s)
				}
			}
		}
		if n == 0 {
			l.notFound = append(l.notFound, name)
		}
	}
	if mode != engine.ModeOverwrite || len(l.found) == 0 {
		return l, nil
	}
	apps, err := c.Apps(ctx, qrs.And(qrs.Eq("name", j.name), qrs.Eq("published", true)))
	if err != nil {
		return nil, fmt.Errorf("looking up apps named %s: %w", q(j.name), err)
	}
	for _, app := range apps {
		if app.Stream != nil && seen[app.Stream.ID] && app.ID != j.appID {
			l.replace[app.Stream.ID] = append(l.replace[app.Stream.ID], app)
		}
	}
	return l, nil
}

func (j *promoteJob) entry(c *qrs.Client, s qrs.Stream, appID, action string) PromotedApp {
	e := PromotedApp{Site: c.Alias(), Host: c.HubHost(), Stream: s.Name, StreamID: s.ID, AppID: appID, Action: action, Name: j.name}
	if appID != "" {
		e.URL = hubURL(c.HubHost(), appID)
	}
	return e
}

// Run promotes to every target site, in parallel. A failing site does not
// stop the others; the step fails when any site failed, with the Values of
// what was done.
func (a *promote) Run(ctx context.Context, in *engine.StepInput) (engine.Result, error) {
	j, err := a.job(in)
	if err != nil {
		return engine.Result{}, err
	}
	defer j.close()
	j.export = sync.OnceValues(func() (*spool, error) { return j.doExport(ctx) })
	outs := make([]siteOutcome, len(j.targets))
	parallel := in.Params.Int("parallel")
	if parallel <= 0 {
		parallel = len(j.targets)
	}
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i, t := range j.targets {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			outs[i] = j.runSite(ctx, t)
		})
	}
	wg.Wait()
	res := summarise(j, outs, false)
	if err := ctx.Err(); err != nil {
		// Interrupted (shutdown): not a failure; the retry resumes from the journal.
		res.Status = engine.StatusFailed
		return res, fmt.Errorf("promote interrupted: %w", err)
	}
	var failed []any // the sites' errors, kept whole: a transient one makes the execution retry
	for _, o := range outs {
		if o.err != nil {
			failed = append(failed, fmt.Errorf("site %s: %w", o.site, o.err))
		}
	}
	if len(failed) > 0 {
		res.Status = engine.StatusFailed
		return res, fmt.Errorf("promote failed on "+strings.TrimSuffix(strings.Repeat("%w; ", len(failed)), "; "), failed...)
	}
	res.Status = engine.StatusDone
	return res, nil
}

// doExport exports the source app and starts spooling it: called once per
// run, by the first site that needs the content. It first waits for room in
// the spool budget (the app's fileSize as QRS reports it) and for an export
// slot on the source site, and returns as soon as the download has begun:
// uploads read the spool as it fills. The slot is freed once the export is
// spooled, the room when the promotion ends.
func (j *promoteJob) doExport(ctx context.Context) (*spool, error) {
	what := fmt.Sprintf("app %s %s on site %s", short(j.appID), q(j.name), j.src.Alias())
	room, err := j.d.Transfers.reserveSpool(ctx, j.in.Facts.App.FileSize, func(why string) {
		j.progressf("promote: waiting for disk room to spool the export of %s: %s", what, why)
	})
	if err != nil {
		return nil, fmt.Errorf("exporting %s: %w", what, err)
	}
	release, err := j.d.Transfers.export(ctx, j.src.Alias(), func(ahead int) {
		j.progressf("promote: waiting to export from site %s (%d exports ahead)", j.src.Alias(), ahead)
	})
	if err != nil {
		room.release()
		return nil, fmt.Errorf("exporting %s: %w", what, err)
	}
	dl, err := try(ctx, j.d.Retry, func(ctx context.Context) (*qrs.Download, error) {
		return j.src.ExportApp(ctx, j.appID, !j.keep)
	})
	if err != nil {
		release()
		room.release()
		return nil, fmt.Errorf("exporting %s: %w", what, err)
	}
	if dl.Size >= 0 {
		room.fix(dl.Size)
	}
	report := progressEvery(progressStep(dl.Size), func(n int64) {
		j.progressf("promote: exported %s of %s", bytesText(n), sizeText(dl.Size))
	})
	sp, err := spoolStart(ctx, j.d.TempDir, dl, dl.Size, func(n int64) {
		room.wrote(n)
		report(n)
	}, func(n int64, err error) {
		release()
		if err != nil {
			j.in.Log.Warn("promote: export failed", "app", j.appID, "site", j.src.Alias(), "bytes", n, "err", err)
			return
		}
		room.fix(n)
		j.in.Log.Info("promote: exported", "app", j.appID, "site", j.src.Alias(), "bytes", n)
		j.progressf("promote: export of %s done (%s)", what, bytesText(n))
	})
	if err != nil {
		release()
		room.release()
		return nil, fmt.Errorf("exporting %s: %w", what, err)
	}
	sp.onClose = room.release
	j.spool = sp
	return sp, nil
}

// summarise turns the site outcomes into the step's result.
func summarise(j *promoteJob, outs []siteOutcome, plan bool) engine.Result {
	apps := []PromotedApp{}
	notFound := map[string][]string{}
	failures := []SiteFailure{}
	uploaded := map[string]int64{}
	details := append([]string(nil), j.ignored...)
	replaced, published := 0, 0
	var doneSites []string
	for _, o := range outs {
		apps = append(apps, o.apps...)
		for _, a := range o.apps {
			if a.Action == "replaced" {
				replaced++
			} else {
				published++
			}
			if !plan {
				details = append(details, fmt.Sprintf("%s app %s %s in stream %s on site %s: %s", a.Action, short(a.AppID), q(a.Name), q(a.Stream), a.Site, a.URL))
			}
		}
		details = append(details, o.notes...)
		if len(o.notFound) > 0 {
			notFound[o.site] = o.notFound
			details = append(details, fmt.Sprintf("streams not found on site %s: %s", o.site, quoteAll(o.notFound)))
		}
		if o.err != nil {
			failures = append(failures, SiteFailure{Site: o.site, Error: o.err.Error()})
			details = append(details, fmt.Sprintf("site %s failed: %v", o.site, o.err))
		} else if len(o.apps) > 0 {
			doneSites = append(doneSites, o.site)
		}
		if !plan {
			uploaded[o.site] = o.uploaded
		}
	}
	verb := map[bool]string{true: "would promote", false: "promoted"}[plan]
	summary := fmt.Sprintf("%s %s to %s: %d replaced, %d published", verb, q(j.name), plural(len(doneSites), "site"), replaced, published)
	if len(notFound) > 0 {
		sites := make([]string, 0, len(notFound))
		for s := range notFound {
			sites = append(sites, s)
		}
		sort.Strings(sites)
		summary += "; streams not found on " + strings.Join(sites, ", ")
	}
	if len(failures) > 0 {
		names := make([]string, len(failures))
		for i, f := range failures {
			names[i] = f.Site
		}
		summary += "; failed on " + strings.Join(names, ", ")
	}
	values := map[string]any{
		"apps":              asValue(apps),
		"streams_not_found": asValue(notFound),
		"failures":          asValue(failures),
	}
	if !plan {
		values["uploaded"] = asValue(uploaded)
		if j.spool != nil {
			values["exported"] = j.spool.Size()
		}
	}
	return engine.Result{Summary: summary, Details: details, Values: values}
}
