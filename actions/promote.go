package actions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/qs-promoter/qs-promoter/engine"
	"github.com/qs-promoter/qs-promoter/qrs"
)

func init() { register("promote", func(d Deps) engine.Action { return &promote{d: d} }) }

var _ engine.Action = (*promote)(nil)

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
			{Name: "targets", Kind: engine.KindTargets, Required: true, Doc: "target sites and modes, e.g. \"{{ targets(app.properties.PromoteToServer) }}\""},
			{Name: "streams", Kind: engine.KindStrings, Required: true, Doc: "target stream names, looked up on each site; missing ones are reported, not errors"},
			{Name: "keep_data", Kind: engine.KindBool, Default: true, Doc: "export and upload the app with its data"},
			{Name: "parallel", Kind: engine.KindInt, Default: 2, Doc: "how many sites are worked on at once"},
		},
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

func (a *promote) Plan(ctx context.Context, in *engine.StepInput) (engine.Result, error) {
	j, err := a.job(in)
	if err != nil {
		return engine.Result{Status: engine.StatusFailed, Summary: "promote: " + err.Error()}, err
	}
	if a.d.Offline {
		return j.planOffline(), nil
	}
	outs := make([]siteOutcome, len(j.targets))
	for i, t := range j.targets {
		outs[i] = j.planSite(ctx, t)
	}
	res := summarise(j, outs, true)
	res.Status = engine.StatusPlanned
	return res, nil
}

func (j *promoteJob) planSite(ctx context.Context, t engine.Target) (out siteOutcome) {
	out.site = t.Site
	c, err := j.d.site(t.Site)
	if err != nil {
		out.err = err
		return out
	}
	out.host = c.HubHost()
	l, err := j.layout(ctx, c, t.Mode)
	if err != nil {
		out.err = err
		return out
	}
	out.notFound = l.notFound
	for _, s := range l.found {
		if olds := l.replace[s.ID]; len(olds) > 0 {
			for _, old := range olds {
				out.apps = append(out.apps, j.entry(c, s, old.ID, "replaced"))
				out.notes = append(out.notes, fmt.Sprintf("would replace app %s %s in stream %s on site %s", short(old.ID), q(old.Name), q(s.Name), t.Site))
			}
			continue
		}
		out.apps = append(out.apps, j.entry(c, s, "", "published"))
		out.notes = append(out.notes, fmt.Sprintf("would publish %s to stream %s on site %s (new app)", q(j.name), q(s.Name), t.Site))
	}
	return out
}

// planOffline says what would be promoted where without asking any site:
// which streams exist and which apps would be replaced is unknown, so apps
// holds one entry per target and stream, with the mode as its action and no
// app_id, for later steps (describe, the results e-mail) to plan with.
func (j *promoteJob) planOffline() engine.Result {
	apps := []PromotedApp{}
	failures := []SiteFailure{}
	var parts, details []string
	streams := make([]string, len(j.streams))
	for i, s := range j.streams {
		streams[i] = oneLine(s)
	}
	for _, t := range j.targets {
		// With a known set of sites (a configuration), an unknown one is
		// reported as the live plan would.
		if j.d.Sites != nil && j.d.Sites[t.Site] == nil {
			_, err := j.d.site(t.Site)
			failures = append(failures, SiteFailure{Site: t.Site, Error: err.Error()})
			details = append(details, fmt.Sprintf("site %s failed: %v", t.Site, err))
			continue
		}
		parts = append(parts, fmt.Sprintf("to site %s (%s) into streams %s", t.Site, t.Mode, strings.Join(streams, ", ")))
		for _, s := range j.streams {
			apps = append(apps, PromotedApp{Site: t.Site, Stream: s, Action: t.Mode, Name: j.name})
			if t.Mode == engine.ModeOverwrite {
				details = append(details, fmt.Sprintf("would replace the published apps named %s in stream %s on site %s (or publish it there if there is none)", q(j.name), q(s), t.Site))
			} else {
				details = append(details, fmt.Sprintf("would publish %s to stream %s on site %s (new app)", q(j.name), q(s), t.Site))
			}
		}
	}
	summary := fmt.Sprintf("would promote %s %s", q(j.name), strings.Join(parts, "; "))
	if len(parts) == 0 {
		summary = fmt.Sprintf("would promote %s to no site", q(j.name))
	}
	summary += " (sites not contacted: use dry-run --live for the exact apps)"
	if len(failures) > 0 {
		names := make([]string, len(failures))
		for i, f := range failures {
			names[i] = f.Site
		}
		summary += "; failed on " + strings.Join(names, ", ")
	}
	return engine.Result{Status: engine.StatusPlanned, Summary: summary, Details: details, Values: map[string]any{
		"apps":              asValue(apps),
		"streams_not_found": asValue(map[string][]string{}),
		"failures":          asValue(failures),
	}}
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
	if err := a.d.online(); err != nil {
		return engine.Result{}, err
	}
	j, err := a.job(in)
	if err != nil {
		return engine.Result{}, err
	}
	defer j.close()
	j.export = sync.OnceValues(func() (*spool, error) { return j.doExport(ctx) })
	outs := make([]siteOutcome, len(j.targets))
	sem := make(chan struct{}, max(1, in.Params.Int("parallel")))
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
	var failed []string
	for _, o := range outs {
		if o.err != nil {
			failed = append(failed, fmt.Sprintf("site %s: %v", o.site, o.err))
		}
	}
	if len(failed) > 0 {
		res.Status = engine.StatusFailed
		return res, fmt.Errorf("promote failed on %s", strings.Join(failed, "; "))
	}
	res.Status = engine.StatusDone
	return res, nil
}

// doExport exports the source app and spools it: called once per run, by
// the first site that needs the content.
func (j *promoteJob) doExport(ctx context.Context) (*spool, error) {
	what := fmt.Sprintf("app %s %s on site %s", short(j.appID), q(j.name), j.src.Alias())
	dl, err := try(ctx, j.d.Retry, func(ctx context.Context) (*qrs.Download, error) {
		return j.src.ExportApp(ctx, j.appID, !j.keep)
	})
	if err != nil {
		return nil, fmt.Errorf("exporting %s: %w", what, err)
	}
	defer dl.Close()
	report := progressEvery(progressStep(dl.Size), func(n int64) {
		j.progressf("promote: exported %s of %s", bytesText(n), sizeText(dl.Size))
	})
	sp, err := spoolCopy(ctx, j.d.TempDir, dl, report)
	if err != nil {
		return nil, fmt.Errorf("exporting %s: %w", what, err)
	}
	j.spool = sp
	j.in.Log.Info("promote: exported", "app", j.appID, "site", j.src.Alias(), "bytes", sp.Size())
	j.progressf("promote: export of %s done (%s)", what, bytesText(sp.Size()))
	return sp, nil
}

// Journal keys, per target site: "<site>/helper" the uploaded app;
// "<site>/new/<stream id>" the app made to publish into a stream;
// "<site>/replaced/<app id>" a replace done; "<site>/stream/<stream id>"
// the stream's finished entries (JSON). A value "creating" or "uploading"
// is written before the call that creates, the app's id after it.
const creating = "creating"

// siteRun is the work on one target site during Run.
type siteRun struct {
	*promoteJob
	c      *qrs.Client
	t      engine.Target
	out    *siteOutcome
	helper *qrs.App   // the uploaded app, once there is one
	copies []*qrs.App // server-side copies of it this attempt meant to publish
}

func (r *siteRun) key(parts ...string) string { return r.t.Site + "/" + strings.Join(parts, "/") }

func (j *promoteJob) runSite(ctx context.Context, t engine.Target) (out siteOutcome) {
	out.site = t.Site
	c, err := j.d.site(t.Site)
	if err != nil {
		out.err = err
		return out
	}
	out.host = c.HubHost()
	r := &siteRun{promoteJob: j, c: c, t: t, out: &out}
	defer r.dropUnpublished(ctx)
	out.err = r.run(ctx)
	return out
}

func (r *siteRun) run(ctx context.Context) error {
	l, err := r.layout(ctx, r.c, r.t.Mode)
	if err != nil {
		return err
	}
	r.out.notFound = l.notFound
	if len(l.found) == 0 {
		r.out.notes = append(r.out.notes, fmt.Sprintf("site %s: none of the target streams exists; nothing to do", r.t.Site))
		return nil
	}
	var publish []qrs.Stream
	for _, s := range l.found {
		if v, ok := r.journal.Get(r.key("stream", s.ID)); ok {
			var done []PromotedApp
			if err := json.Unmarshal([]byte(v), &done); err == nil {
				r.out.apps = append(r.out.apps, done...)
				continue
			}
		}
		// An app this step published in an earlier attempt is not one to replace.
		mine, _ := r.journal.Get(r.key("new", s.ID))
		var olds []qrs.App
		for _, a := range l.replace[s.ID] {
			if a.ID != mine {
				olds = append(olds, a)
			}
		}
		if len(olds) == 0 {
			publish = append(publish, s)
			continue
		}
		if err := r.replaceIn(ctx, s, olds); err != nil {
			return err
		}
	}
	return r.publishAll(ctx, publish)
}

// replaceIn replaces every same-named published app of stream s with the helper.
func (r *siteRun) replaceIn(ctx context.Context, s qrs.Stream, olds []qrs.App) error {
	var entries []PromotedApp
	for _, old := range olds {
		k := r.key("replaced", old.ID)
		if _, done := r.journal.Get(k); !done {
			h, err := r.ensureHelper(ctx)
			if err != nil {
				return err
			}
			if _, err := r.c.ReplaceApp(ctx, h.ID, old.ID); err != nil {
				return fmt.Errorf("replacing app %s %s in stream %s: %w", short(old.ID), q(old.Name), q(s.Name), err)
			}
			if err := r.journal.Put(k, "done"); err != nil {
				return err
			}
			r.in.Log.Info("promote: replaced", "site", r.t.Site, "stream", s.Name, "app", old.ID)
		}
		entries = append(entries, r.entry(r.c, s, old.ID, "replaced"))
	}
	return r.streamDone(s, entries)
}

func (r *siteRun) streamDone(s qrs.Stream, entries []PromotedApp) error {
	b, _ := json.Marshal(entries)
	r.out.apps = append(r.out.apps, entries...)
	return r.journal.Put(r.key("stream", s.ID), string(b))
}

// publishAll publishes a new app into each stream: the helper itself into
// the first, server-side copies of it into the others.
func (r *siteRun) publishAll(ctx context.Context, streams []qrs.Stream) error {
	if len(streams) == 0 {
		return nil
	}
	// The helper may already serve a stream (an earlier attempt).
	helperTaken := false
	for _, s := range streams {
		if v, ok := r.journal.Get(r.key("new", s.ID)); ok && v != creating {
			if hv, ok := r.journal.Get(r.key("helper")); ok && hv == v {
				helperTaken = true
			}
		}
	}
	for _, s := range streams {
		app, err := r.appFor(ctx, s, &helperTaken)
		if err != nil {
			return err
		}
		if !(app.Published && app.Stream != nil && app.Stream.ID == s.ID) {
			if _, err := r.c.PublishApp(ctx, app.ID, s.ID, r.name); err != nil {
				// A publish whose answer was lost and that was retried fails
				// as "already published": look before reporting it.
				now, rerr := r.c.App(ctx, app.ID)
				if rerr != nil || !now.Published || now.Stream == nil || now.Stream.ID != s.ID {
					return fmt.Errorf("publishing to stream %s: %w", q(s.Name), err)
				}
			}
			r.in.Log.Info("promote: published", "site", r.t.Site, "stream", s.Name, "app", app.ID)
		}
		if err := r.streamDone(s, []PromotedApp{r.entry(r.c, s, app.ID, "published")}); err != nil {
			return err
		}
	}
	return nil
}

// appFor returns the unpublished (or already published there) app to
// publish into s, creating it at most once across attempts.
func (r *siteRun) appFor(ctx context.Context, s qrs.Stream, helperTaken *bool) (*qrs.App, error) {
	k := r.key("new", s.ID)
	if v, ok := r.journal.Get(k); ok && v != creating {
		app, err := r.c.App(ctx, v)
		if err == nil {
			r.copies = append(r.copies, app)
			return app, nil
		}
		if !qrs.IsNotFound(err) {
			return nil, err
		}
	}
	h, err := r.ensureHelper(ctx)
	if err != nil {
		return nil, err
	}
	app := h
	if *helperTaken || h.Published {
		if err := r.journal.Put(k, creating); err != nil {
			return nil, err
		}
		name := tempName(r.in, r.t.Site+"/copy/"+s.ID)
		app, err = createOnce(ctx, r.c, r.d.Retry, name, func(ctx context.Context) (*qrs.App, error) {
			return r.c.CopyApp(ctx, h.ID, name)
		})
		if err != nil {
			return nil, fmt.Errorf("copying the uploaded app for stream %s: %w", q(s.Name), err)
		}
		r.copies = append(r.copies, app)
	}
	*helperTaken = true
	return app, r.journal.Put(k, app.ID)
}

// ensureHelper returns the app uploaded to this site, uploading it if this
// step has not already (in this attempt or an earlier one).
func (r *siteRun) ensureHelper(ctx context.Context) (*qrs.App, error) {
	if r.helper != nil {
		return r.helper, nil
	}
	k := r.key("helper")
	if v, ok := r.journal.Get(k); ok && v != creating {
		app, err := r.c.App(ctx, v)
		if err == nil {
			r.helper = app
			return app, nil
		}
		if !qrs.IsNotFound(err) {
			return nil, err
		}
	}
	if err := r.journal.Put(k, creating); err != nil {
		return nil, err
	}
	name := tempName(r.in, r.t.Site+"/upload")
	var moved atomic.Int64
	var size int64
	// The export happens here, once per run, only when an upload is needed
	// (not when an interrupted attempt's upload is found).
	app, err := createOnce(ctx, r.c, r.d.Retry, name, func(ctx context.Context) (*qrs.App, error) {
		sp, err := r.export()
		if err != nil {
			return nil, err
		}
		size = sp.Size()
		report := progressEvery(progressStep(size), func(n int64) {
			r.progressf("promote: site %s: uploaded %s of %s", r.t.Site, bytesText(n), bytesText(size))
		})
		body := &countReader{r: sp.Reader(), n: &moved, progress: report}
		return r.c.UploadApp(ctx, name, r.keep, body, size)
	})
	r.out.uploaded += moved.Load()
	if err != nil {
		return nil, fmt.Errorf("uploading to site %s: %w", r.t.Site, err)
	}
	if moved.Load() > 0 {
		r.in.Log.Info("promote: uploaded", "site", r.t.Site, "app", app.ID, "bytes", moved.Load())
		r.progressf("promote: site %s: upload done (%s), app %s", r.t.Site, bytesText(size), short(app.ID))
	} else {
		r.in.Log.Info("promote: using the app an interrupted attempt uploaded", "site", r.t.Site, "app", app.ID)
	}
	r.helper = app
	return app, r.journal.Put(k, app.ID)
}

// dropUnpublished deletes the uploaded app and the copies made of it
// unless they were published. It runs whether the site succeeded or not, so
// a failure leaves no app under a temporary name; a retry uploads or copies
// again if it must.
func (r *siteRun) dropUnpublished(ctx context.Context) {
	ctx = context.WithoutCancel(ctx)
	seen := map[string]bool{}
	for _, made := range append(r.copies, r.helper) {
		if made == nil || seen[made.ID] {
			continue
		}
		seen[made.ID] = true
		app, err := r.c.App(ctx, made.ID)
		if err == nil && !app.Published {
			err = r.c.DeleteApp(ctx, app.ID)
		}
		if err != nil && !qrs.IsNotFound(err) {
			r.out.notes = append(r.out.notes, fmt.Sprintf("site %s: could not delete the unpublished app %s %s: %v; delete it in the QMC", r.t.Site, made.ID, q(made.Name), err))
		}
	}
}

// countReader counts bytes read into n and reports progress.
type countReader struct {
	r        io.Reader
	n        *atomic.Int64
	progress func(int64)
	local    int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.local += int64(n)
	c.n.Add(int64(n))
	c.progress(c.local)
	return n, err
}

// progressStep reports about every 10% (at least every 16 MiB, at most every 256 MiB).
func progressStep(size int64) int64 { return min(max(size/10, 16<<20), 256<<20) }

func bytesText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func sizeText(n int64) string {
	if n < 0 {
		return "unknown size"
	}
	return bytesText(n)
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

func quoteAll(names []string) string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = q(n)
	}
	return strings.Join(out, ", ")
}
