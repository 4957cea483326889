package actions

import (
	"context"
	"fmt"
	"strings"

	"github.com/qs-promoter/qs-promoter/engine"
	"github.com/qs-promoter/qs-promoter/qrs"
)

func init() { register(func(d Deps) engine.Action { return &unpublish{d: d} }) }

var (
	_ engine.Action  = (*unpublish)(nil)
	_ engine.Planner = (*unpublish)(nil)
	_ offlinePlanner = (*unpublish)(nil)
)

// unpublish takes a published app out of its stream the only way QRS
// allows: copy it to its owner, then delete the published app. The delete
// happens only once the copy is read back and verified.
type unpublish struct{ d Deps }

func (a *unpublish) Spec() engine.ActionSpec {
	return engine.ActionSpec{
		Name:        "unpublish",
		Summary:     "Copy the published app to its owner, verify the copy, then delete the published app.",
		Destructive: true,
		Params: []engine.Param{
			{Name: "name", Kind: engine.KindString, DefaultDoc: "the app's name", Doc: "name of the owner's copy"},
		},
		Example: `- id: unpublish
  action: unpublish
  if: vars.unpublish and steps.promote.status == "done"
`,
	}
}

func (a *unpublish) Plan(ctx context.Context, in *engine.StepInput) (engine.Result, error) {
	c, err := a.d.source(in)
	if err != nil {
		return engine.Result{Status: engine.StatusFailed, Summary: "unpublish: " + err.Error()}, err
	}
	app, err := c.App(ctx, in.Facts.App.ID)
	if err != nil {
		return engine.Result{Status: engine.StatusFailed, Summary: "unpublish: " + err.Error()}, err
	}
	if !app.Published {
		return engine.Result{Status: engine.StatusSkipped, Summary: fmt.Sprintf("would do nothing: app %s %s is not published", short(app.ID), q(app.Name))}, nil
	}
	return engine.Result{Status: engine.StatusPlanned,
		Summary: fmt.Sprintf("would copy app %s %s to %s, verify the copy, then delete the published app from stream %s on site %s",
			short(app.ID), q(app.Name), in.Facts.App.Owner.Account, q(streamName(app)), c.Alias()),
		Values: map[string]any{"app_id": "", "deleted_app_id": app.ID}}, nil
}

// planOffline plans from the facts: whether the app is published, and in
// which stream, is what the event recorded.
func (a *unpublish) planOffline(in *engine.StepInput) (engine.Result, error) {
	site, err := eventApp(in)
	if err != nil {
		return engine.Result{Status: engine.StatusFailed, Summary: "unpublish: " + err.Error()}, err
	}
	app := in.Facts.App
	if !app.Published {
		return engine.Result{Status: engine.StatusSkipped, Summary: fmt.Sprintf("would do nothing: app %s %s is not published", short(app.ID), q(app.Name))}, nil
	}
	return engine.Result{Status: engine.StatusPlanned,
		Summary: fmt.Sprintf("would copy app %s %s to %s, verify the copy, then delete the published app from stream %s on site %s",
			short(app.ID), q(app.Name), app.Owner.Account, q(app.Stream.Name), site),
		Values: map[string]any{"app_id": "", "deleted_app_id": app.ID}}, nil
}

func streamName(app *qrs.App) string {
	if app.Stream == nil {
		return ""
	}
	return app.Stream.Name
}

func (a *unpublish) Run(ctx context.Context, in *engine.StepInput) (engine.Result, error) {
	c, err := a.d.source(in)
	if err != nil {
		return engine.Result{}, err
	}
	j := journalOf(in)
	id := in.Facts.App.ID
	copyID, _ := j.Get("copy")
	done := func(again bool) engine.Result {
		s := fmt.Sprintf("unpublished app %s %s on site %s: copy %s now belongs to %s", short(id), q(in.Facts.App.Name), c.Alias(), copyID, in.Facts.App.Owner.Account)
		if again {
			s += " (earlier attempt)"
		}
		return engine.Result{Status: engine.StatusDone, Summary: s,
			Values: map[string]any{"app_id": copyID, "url": hubURL(c.HubHost(), copyID), "deleted_app_id": id}}
	}
	if _, ok := j.Get("deleted"); ok {
		return done(true), nil
	}
	src, err := c.App(ctx, id)
	if qrs.IsNotFound(err) {
		if _, ok := j.Get("deleting"); ok { // deleted, but the journal missed it
			return done(true), nil
		}
		return engine.Result{}, fmt.Errorf("app %s no longer exists on site %s: nothing to unpublish", id, c.Alias())
	}
	if err != nil {
		return engine.Result{}, err
	}
	if !src.Published {
		return engine.Result{Status: engine.StatusSkipped, Summary: fmt.Sprintf("app %s %s is not published: nothing to unpublish", short(id), q(src.Name))}, nil
	}
	cp, err := copyToOwner(ctx, a.d, c, in, j)
	if err != nil {
		return engine.Result{}, fmt.Errorf("%w; the published app was not deleted", err)
	}
	copyID = cp.ID
	if err := verifyCopy(ctx, c, src, cp.ID, in.Facts.App.Owner); err != nil {
		return engine.Result{}, fmt.Errorf("the copy could not be verified, so the published app %s was not deleted: %w", id, err)
	}
	if err := j.Put("deleting", id); err != nil {
		return engine.Result{}, err
	}
	if err := c.DeleteApp(ctx, id); err != nil && !qrs.IsNotFound(err) {
		return engine.Result{}, fmt.Errorf("deleting the published app %s (its copy %s is with the owner): %w", id, cp.ID, err)
	}
	if err := j.Put("deleted", "yes"); err != nil {
		in.Log.Warn("unpublish: journal", "err", err)
	}
	in.Log.Info("unpublished", "site", c.Alias(), "app", id, "copy", cp.ID)
	return done(false), nil
}

// verifyCopy reads the copy back from QRS: it must exist, be another app
// than the source, be unpublished and belong to the source's owner.
func verifyCopy(ctx context.Context, c *qrs.Client, src *qrs.App, copyID string, owner engine.OwnerFacts) error {
	cp, err := c.App(ctx, copyID)
	if err != nil {
		return fmt.Errorf("reading copy %s: %w", copyID, err)
	}
	switch {
	case cp.ID == "" || strings.EqualFold(cp.ID, src.ID):
		return fmt.Errorf("copy %s is the published app itself", copyID)
	case cp.Published:
		return fmt.Errorf("copy %s is published", copyID)
	case !strings.EqualFold(cp.Owner.ID, owner.ID) || !strings.EqualFold(cp.Owner.ID, src.Owner.ID):
		return fmt.Errorf("copy %s belongs to %s\\%s (%s), not to the app's owner %s (%s)", copyID, cp.Owner.UserDirectory, cp.Owner.UserID, cp.Owner.ID, owner.Account, owner.ID)
	}
	return nil
}
