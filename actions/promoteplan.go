package actions

import (
	"context"
	"fmt"
	"strings"

	"github.com/qs-promoter/qs-promoter/engine"
)

// How promote plans: live, by reading each target site's streams and
// same-named apps through read-only clients; offline, from the targets and
// streams alone.

func (a *promote) Plan(ctx context.Context, in *engine.StepInput) (engine.Result, error) {
	j, err := a.job(in)
	if err != nil {
		return engine.Result{Status: engine.StatusFailed, Summary: "promote: " + err.Error()}, err
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

func (a *promote) planOffline(in *engine.StepInput) (engine.Result, error) {
	j, err := a.job(in)
	if err != nil {
		return engine.Result{Status: engine.StatusFailed, Summary: "promote: " + err.Error()}, err
	}
	return j.planOffline(), nil
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
