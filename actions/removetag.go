package actions

import (
	"context"
	"fmt"
	"strings"

	"github.com/qs-promoter/qs-promoter/engine"
	"github.com/qs-promoter/qs-promoter/qrs"
)

func init() { register(func(d Deps) engine.Action { return &removeTag{d: d} }) }

var (
	_ engine.Action  = (*removeTag)(nil)
	_ engine.Planner = (*removeTag)(nil)
	_ offlinePlanner = (*removeTag)(nil)
)

// removeTag takes a tag off the event's app (the tag itself stays on the site).
type removeTag struct{ d Deps }

func (a *removeTag) Spec() engine.ActionSpec {
	return engine.ActionSpec{
		Name:    "remove-tag",
		Summary: "Remove a tag from the app (the tag stays defined on the site).",
		Params: []engine.Param{
			{Name: "tag", Kind: engine.KindString, Required: true, Doc: "tag name"},
		},
		Example: `- action: remove-tag
  with: {tag: PromoteOnReload}
`,
	}
}

func (a *removeTag) Plan(ctx context.Context, in *engine.StepInput) (engine.Result, error) {
	c, app, err := readEventApp(ctx, a.d, in)
	if err != nil {
		return engine.Result{Status: engine.StatusFailed, Summary: "remove-tag: " + err.Error()}, err
	}
	tag := in.Params.String("tag")
	if !app.HasTag(tag) {
		return engine.Result{Status: engine.StatusSkipped, Summary: fmt.Sprintf("would do nothing: app %s %s has no tag %s", short(app.ID), q(app.Name), q(tag))}, nil
	}
	return engine.Result{Status: engine.StatusPlanned, Summary: fmt.Sprintf("would remove tag %s from app %s %s on site %s", q(tag), short(app.ID), q(app.Name), c.Alias())}, nil
}

// planOffline plans from the tags the event recorded.
func (a *removeTag) planOffline(in *engine.StepInput) (engine.Result, error) {
	site, err := eventApp(in)
	if err != nil {
		return engine.Result{Status: engine.StatusFailed, Summary: "remove-tag: " + err.Error()}, err
	}
	app, tag := in.Facts.App, in.Params.String("tag")
	if !hasTag(app.Tags, tag) {
		return engine.Result{Status: engine.StatusSkipped, Summary: fmt.Sprintf("would do nothing: app %s %s has no tag %s", short(app.ID), q(app.Name), q(tag))}, nil
	}
	return engine.Result{Status: engine.StatusPlanned, Summary: fmt.Sprintf("would remove tag %s from app %s %s on site %s", q(tag), short(app.ID), q(app.Name), site)}, nil
}

func (a *removeTag) Run(ctx context.Context, in *engine.StepInput) (engine.Result, error) {
	c, err := a.d.source(in)
	if err != nil {
		return engine.Result{}, err
	}
	name := in.Params.String("tag")
	removed := 0
	app, err := c.UpdateApp(ctx, in.Facts.App.ID, func(app *qrs.App) error {
		kept := app.Tags[:0:0]
		for _, t := range app.Tags {
			if !strings.EqualFold(t.Name, name) {
				kept = append(kept, t)
			}
		}
		removed = len(app.Tags) - len(kept)
		app.Tags = kept
		return nil
	})
	if err != nil {
		return engine.Result{}, fmt.Errorf("removing tag %s from app %s on site %s: %w", q(name), in.Facts.App.ID, c.Alias(), err)
	}
	if removed == 0 {
		return engine.Result{Status: engine.StatusSkipped, Summary: fmt.Sprintf("app %s %s has no tag %s", short(app.ID), q(app.Name), q(name))}, nil
	}
	return engine.Result{Status: engine.StatusDone, Summary: fmt.Sprintf("removed tag %s from app %s %s on site %s", q(name), short(app.ID), q(app.Name), c.Alias())}, nil
}
