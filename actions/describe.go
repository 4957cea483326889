package actions

import (
	"context"
	"errors"
	"fmt"

	"github.com/qs-promoter/qs-promoter/engine"
	"github.com/qs-promoter/qs-promoter/qrs"
)

func init() { register(func(d Deps) engine.Action { return &describe{d: d} }) }

var (
	_ engine.Action  = (*describe)(nil)
	_ engine.Planner = (*describe)(nil)
	_ offlinePlanner = (*describe)(nil)
)

// describe sets the description of promoted apps on their sites.
type describe struct{ d Deps }

func (a *describe) Spec() engine.ActionSpec {
	return engine.ActionSpec{
		Name:    "describe",
		Summary: "Set the description of the promoted apps (the original's text by default).",
		Params: []engine.Param{
			{Name: "apps", Kind: engine.KindAny, Required: true, Doc: "the apps: `\"{{ steps.promote.apps }}\"` (entries need `site` and `app_id`)"},
			{Name: "text", Kind: engine.KindText, DefaultDoc: "the original's text", Doc: "the description"},
			{Name: "version_id", Kind: engine.KindString, DefaultDoc: "`\"\"`", Doc: "S3 version ID for the default text: `\"{{ steps.s3.version_id }}\"`"},
			{Name: "approver", Kind: engine.KindString, DefaultDoc: "who set the app's `config.approval_property` value", Doc: "the approver named in the default text"},
		},
		Example: `- id: describe
  action: describe
  if: len(steps.promote.apps) > 0
  with:
    apps: "{{ steps.promote.apps }}"
    version_id: "{{ steps.s3.version_id }}"
`,
	}
}

// DefaultDescription is the original's description of a promoted app. node
// is where the change was made ("" for the event's originator host).
func DefaultDescription(f *engine.Facts, node, approver, versionID string) string {
	if node == "" {
		node = f.Event.OriginatorHost
	}
	if approver == "" {
		approver = approverOf(f)
	}
	s := fmt.Sprintf("App promoted from node: '%s' by: '%s' at: '%s' where it was owned by: '%s'",
		node, approver, qrs.FormatTime(f.App.ModifiedDate), f.App.Owner.Account)
	if versionID != "" {
		s += "\n\nS3 Version ID: " + versionID
	}
	return s
}

func (a *describe) text(in *engine.StepInput) string {
	if t := in.Params.String("text"); t != "" {
		return t
	}
	// Catch-up and manual events have no notification, so no originator
	// host: name the source site instead of leaving the node blank.
	node := in.Facts.Event.OriginatorHost
	if c := a.d.Sites[in.Facts.Event.Site]; node == "" && c != nil {
		node = c.HubHost()
	}
	return DefaultDescription(in.Facts, node, in.Params.String("approver"), in.Params.String("version_id"))
}

func (a *describe) apps(in *engine.StepInput) ([]PromotedApp, error) {
	list, err := decodeValue[PromotedApp](in.Params["apps"], "apps")
	if err != nil {
		return nil, err
	}
	var out []PromotedApp
	for _, p := range list {
		if p.AppID == "" && !a.d.Offline {
			continue // a planned publish has no app yet; offline, no entry has one
		}
		if p.Site == "" {
			if p.AppID == "" {
				return nil, fmt.Errorf("apps: entry for %s has no site", q(p.Name))
			}
			return nil, fmt.Errorf("apps: entry for app %s has no site", p.AppID)
		}
		out = append(out, p)
	}
	return out, nil
}

func (a *describe) Plan(ctx context.Context, in *engine.StepInput) (engine.Result, error) {
	return a.planOffline(in)
}

// planOffline is the plan, live or not: it reads nothing. Offline, the
// apps are the planned entries (site and stream, no app yet). The preview
// and Values hold the whole text it would set, line breaks and all.
func (a *describe) planOffline(in *engine.StepInput) (engine.Result, error) {
	list, err := a.apps(in)
	if err != nil {
		return engine.Result{Status: engine.StatusFailed, Summary: "describe: " + err.Error()}, err
	}
	text := a.text(in)
	res := engine.Result{Status: engine.StatusPlanned,
		Summary: fmt.Sprintf("would set the description of %s to “%s”", plural(len(list), "app"), oneLine(text)),
		Values:  map[string]any{"description": text},
		Preview: []engine.PreviewField{{Name: "description", Value: text}}}
	for _, p := range list {
		if p.AppID == "" {
			res.Details = append(res.Details, fmt.Sprintf("would describe %s in stream %s on site %s", q(p.Name), q(p.Stream), p.Site))
			continue
		}
		res.Details = append(res.Details, fmt.Sprintf("would describe app %s %s on site %s", short(p.AppID), q(p.Name), p.Site))
	}
	return res, nil
}

// Run updates every app it can; it fails when any could not be updated.
func (a *describe) Run(ctx context.Context, in *engine.StepInput) (engine.Result, error) {
	list, err := a.apps(in)
	if err != nil {
		return engine.Result{}, err
	}
	text := a.text(in)
	if len(list) == 0 {
		return engine.Result{Status: engine.StatusSkipped, Summary: "no app to describe"}, nil
	}
	var done []string
	var errs []error
	res := engine.Result{}
	for _, p := range list {
		c, err := a.d.site(p.Site)
		if err == nil {
			_, err = c.UpdateApp(ctx, p.AppID, func(app *qrs.App) error { app.Description = text; return nil })
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("app %s on site %s: %w", p.AppID, p.Site, err))
			continue
		}
		done = append(done, p.AppID)
		res.Details = append(res.Details, fmt.Sprintf("described app %s %s on site %s", short(p.AppID), q(p.Name), p.Site))
	}
	res.Values = map[string]any{"apps": asValue(done), "description": text}
	res.Summary = fmt.Sprintf("set the description of %s", plural(len(done), "app"))
	if len(errs) > 0 {
		res.Status = engine.StatusFailed
		res.Summary += fmt.Sprintf("; %d failed", len(errs))
		return res, fmt.Errorf("describe: %w", errors.Join(errs...))
	}
	res.Status = engine.StatusDone
	return res, nil
}
