package console

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"

	"github.com/qs-promoter/qs-promoter/daemon"
	"github.com/qs-promoter/qs-promoter/engine"
)

// maxEventUpload bounds a pasted or uploaded recorded event.
const maxEventUpload = 4 << 20

// runDryRun evaluates an event against the policies in use and shows what
// each would do, e-mail previews included, writing nothing (POST
// /dry-run): a live app (site, app, kind), a pasted or uploaded recorded
// event, or the recorded event of an execution.
func (c *Console) runDryRun(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxEventUpload+64<<10)
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var err error
	if ct == "multipart/form-data" {
		err = r.ParseMultipartForm(maxEventUpload)
	} else {
		err = r.ParseForm()
	}
	v := c.dryRunForm(r)
	if err != nil {
		v.Problem = "unreadable form: " + err.Error()
		c.render(w, r, "dryrun", http.StatusBadRequest, "Dry-run", v)
		return
	}
	ev, live, source, err := c.dryRunEvent(r, &v)
	if err == nil {
		var dr *daemon.DryRun
		if dr, err = c.b.DryRunEvent(r.Context(), ev, live); err == nil {
			v.Report = newDryRunReport(dr, source)
		}
	}
	details := map[string]any{"source": source}
	outcome := "success"
	if ev != nil {
		details["site"], details["app_id"], details["app_name"] = ev.Site, ev.App.ID, ev.App.Name
	}
	if err != nil {
		v.Problem, outcome, details["error"] = err.Error(), "failed", err.Error()
	}
	c.audit(r, currentUser(r).Name, "dry-run", outcome, details)
	status := http.StatusOK
	if err != nil {
		status = http.StatusUnprocessableEntity
	}
	c.render(w, r, "dryrun", status, "Dry-run", v)
}

// dryRunEvent reads the event the form names.
func (c *Console) dryRunEvent(r *http.Request, v *dryRunView) (ev *engine.Event, live bool, source string, err error) {
	switch {
	case r.FormValue("execution") != "":
		id := r.FormValue("execution")
		v.Execution = id
		e, err := c.b.Execution(r.Context(), id)
		if err != nil {
			return nil, false, "execution " + id, err
		}
		if e == nil || len(e.Event) == 0 {
			return nil, false, "execution " + id, errors.New("execution " + id + " has no recorded event")
		}
		ev, err = engine.ReadEvent(bytes.NewReader(e.Event))
		return ev, false, "the recorded event of execution " + id, err
	case r.FormValue("app") != "":
		site, app := r.FormValue("site"), strings.TrimSpace(r.FormValue("app"))
		ev, err = c.b.LiveEvent(r.Context(), site, app, v.Kind)
		return ev, true, "app " + app + " on site " + site + ", live, as " + v.Kind, err
	}
	var raw []byte
	if f, _, ferr := r.FormFile("event_file"); ferr == nil {
		defer f.Close()
		raw, err = io.ReadAll(io.LimitReader(f, maxEventUpload+1))
		if err != nil {
			return nil, false, "an uploaded event", err
		}
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		raw = []byte(r.FormValue("event"))
		v.Event = r.FormValue("event")
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, false, "", errors.New("nothing to run: pick an app, or paste or upload a recorded event (state_dir/events/…, or an execution's event.json)")
	}
	if len(raw) > maxEventUpload {
		return nil, false, "a recorded event", errors.New("the event is larger than 4 MiB")
	}
	ev, err = engine.ReadEvent(bytes.NewReader(raw))
	return ev, false, "a recorded event", err
}

// dryRunReport is a dry-run's report as the page shows it: the same as
// `qs-promoter dry-run` prints.
type dryRunReport struct {
	Source   string
	Kinds    []string
	Site     string
	AppID    string
	AppName  string
	Revision string
	Files    int
	Count    int
	Policies []dryRunPolicy
}

type dryRunPolicy struct {
	Name, Reason, Err string
	Matched           bool
	Steps             []dryRunStep
}

type dryRunStep struct {
	N                   int
	ID, Action, Status  string
	Summary, Err        string
	Details             []string
	Preview             []namedText
	Given, Defaults     []namedText
	ErrNotInSummary     bool
	Skipped, NotRun     bool
	HasGiven, HasPreset bool
}

type namedText struct {
	Name, Text string
	Multi      bool
}

func newDryRunReport(dr *daemon.DryRun, source string) *dryRunReport {
	f := dr.Facts
	out := &dryRunReport{Source: source, Kinds: f.Event.Kinds, Site: f.Event.Site, AppID: f.App.ID, AppName: f.App.Name,
		Revision: dr.Ruleset.Revision, Files: len(dr.Ruleset.Files), Count: len(dr.Ruleset.Policies)}
	for _, p := range dr.Report.Policies {
		dp := dryRunPolicy{Name: p.Name, Reason: p.Reason, Err: p.Err, Matched: p.Matched}
		for i, s := range p.Steps {
			ds := dryRunStep{N: i + 1, ID: s.ID, Action: s.Action, Status: string(s.Result.Status), Summary: s.Result.Summary, Err: s.Err,
				Details: s.Result.Details, Skipped: s.Skipped, NotRun: s.NotRun}
			ds.ErrNotInSummary = s.Err != "" && !strings.Contains(s.Result.Summary, s.Err)
			for _, pf := range s.Result.Preview {
				ds.Preview = append(ds.Preview, named(pf.Name, pf.Value))
			}
			given, defaults := s.SplitParams()
			ds.Given, ds.Defaults = namedAll(given), namedAll(defaults)
			ds.HasGiven, ds.HasPreset = len(ds.Given) > 0, len(ds.Defaults) > 0
			dp.Steps = append(dp.Steps, ds)
		}
		out.Policies = append(out.Policies, dp)
	}
	return out
}

func named(name string, v any) namedText {
	t := strings.TrimRight(paramText(v), "\n")
	return namedText{Name: name, Text: t, Multi: strings.Contains(t, "\n")}
}

func namedAll(m map[string]any) []namedText {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	out := make([]namedText, len(names))
	for i, n := range names {
		out[i] = named(n, m[n])
	}
	return out
}
