package actions

import (
	"context"
	"fmt"
	"strings"

	"github.com/qs-promoter/qs-promoter/engine"
	"github.com/qs-promoter/qs-promoter/qrs"
)

func init() { register(func(d Deps) engine.Action { return &addTag{d: d} }) }

var (
	_ engine.Action  = (*addTag)(nil)
	_ engine.Planner = (*addTag)(nil)
	_ offlinePlanner = (*addTag)(nil)
)

// addTag tags the event's app. A tag that does not exist on the site is
// created: the original required the admin to create it first and failed
// obscurely otherwise.
type addTag struct{ d Deps }

func (a *addTag) Spec() engine.ActionSpec {
	return engine.ActionSpec{
		Name:    "add-tag",
		Summary: "Tag the app (the tag is created on the site when missing).",
		Params: []engine.Param{
			{Name: "tag", Kind: engine.KindString, Required: true, Doc: "tag name"},
		},
		Example: `- action: add-tag
  with: {tag: "{{ config.reload_tag }}"}
`,
	}
}

func (a *addTag) Plan(ctx context.Context, in *engine.StepInput) (engine.Result, error) {
	c, app, err := readEventApp(ctx, a.d, in)
	if err != nil {
		return engine.Result{Status: engine.StatusFailed, Summary: "add-tag: " + err.Error()}, err
	}
	tag := in.Params.String("tag")
	if app.HasTag(tag) {
		return engine.Result{Status: engine.StatusSkipped, Summary: fmt.Sprintf("would do nothing: app %s %s already has tag %s", short(app.ID), q(app.Name), q(tag))}, nil
	}
	s := fmt.Sprintf("would tag app %s %s on site %s with %s", short(app.ID), q(app.Name), c.Alias(), q(tag))
	if t, err := findTag(ctx, c, tag); err == nil && t == nil {
		s += " (creating the tag)"
	}
	return engine.Result{Status: engine.StatusPlanned, Summary: s}, nil
}

// planOffline plans from the tags the event recorded.
func (a *addTag) planOffline(in *engine.StepInput) (engine.Result, error) {
	site, err := eventApp(in)
	if err != nil {
		return engine.Result{Status: engine.StatusFailed, Summary: "add-tag: " + err.Error()}, err
	}
	app, tag := in.Facts.App, in.Params.String("tag")
	if hasTag(app.Tags, tag) {
		return engine.Result{Status: engine.StatusSkipped, Summary: fmt.Sprintf("would do nothing: app %s %s already has tag %s", short(app.ID), q(app.Name), q(tag))}, nil
	}
	return engine.Result{Status: engine.StatusPlanned, Summary: fmt.Sprintf("would tag app %s %s on site %s with %s (creating the tag if the site has none)", short(app.ID), q(app.Name), site, q(tag))}, nil
}

func (a *addTag) Run(ctx context.Context, in *engine.StepInput) (engine.Result, error) {
	c, err := a.d.source(in)
	if err != nil {
		return engine.Result{}, err
	}
	name := strings.TrimSpace(in.Params.String("tag"))
	if name == "" {
		return engine.Result{}, fmt.Errorf("tag is empty")
	}
	tag, err := findTag(ctx, c, name)
	if err == nil && tag == nil {
		tag, err = c.CreateTag(ctx, name)
		if err != nil {
			// The tag may have been made by someone else (or by a call whose
			// answer was lost) meanwhile.
			if t, ferr := findTag(ctx, c, name); ferr == nil && t != nil {
				tag, err = t, nil
			}
		}
		if err == nil {
			in.Log.Info("add-tag: created tag", "site", c.Alias(), "tag", name)
		}
	}
	if err != nil {
		return engine.Result{}, fmt.Errorf("tag %s on site %s: %w", q(name), c.Alias(), err)
	}
	app, err := c.UpdateApp(ctx, in.Facts.App.ID, func(app *qrs.App) error {
		if !app.HasTag(name) {
			app.Tags = append(app.Tags, qrs.TagCondensed{ID: tag.ID, Name: tag.Name})
		}
		return nil
	})
	if err != nil {
		return engine.Result{}, fmt.Errorf("tagging app %s on site %s: %w", in.Facts.App.ID, c.Alias(), err)
	}
	return engine.Result{Status: engine.StatusDone,
		Summary: fmt.Sprintf("tagged app %s %s on site %s with %s", short(app.ID), q(app.Name), c.Alias(), q(name)),
		Values:  map[string]any{"tag_id": tag.ID}}, nil
}

// findTag returns the tag with this name (case-insensitive), nil when none.
func findTag(ctx context.Context, c *qrs.Client, name string) (*qrs.Tag, error) {
	tags, err := c.Tags(ctx, qrs.Eq("name", name))
	if err != nil {
		return nil, err
	}
	for i := range tags {
		if strings.EqualFold(tags[i].Name, name) {
			return &tags[i], nil
		}
	}
	return nil, nil
}
