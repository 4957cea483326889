package actions

import (
	"context"
	"errors"
	"fmt"

	"github.com/qs-promoter/qs-promoter/engine"
	"github.com/qs-promoter/qs-promoter/qrs"
)

func init() { register(func(d Deps) engine.Action { return &duplicateToOwner{d: d} }) }

var (
	_ engine.Action  = (*duplicateToOwner)(nil)
	_ engine.Planner = (*duplicateToOwner)(nil)
	_ offlinePlanner = (*duplicateToOwner)(nil)
)

// duplicateToOwner copies the event's app and gives the copy to the app's owner.
type duplicateToOwner struct{ d Deps }

func (a *duplicateToOwner) Spec() engine.ActionSpec {
	return engine.ActionSpec{
		Name:    "duplicate-to-owner",
		Summary: "Copy the app (unpublished) and make the app's owner the owner of the copy.",
		Params: []engine.Param{
			{Name: "name", Kind: engine.KindString, DefaultDoc: "the app's name", Doc: "name of the copy"},
		},
		Example: `- action: duplicate-to-owner
`,
	}
}

func copyName(in *engine.StepInput) string {
	if n := in.Params.String("name"); n != "" {
		return n
	}
	return in.Facts.App.Name
}

// Plan checks that the event's site is configured; the rest is planOffline's.
func (a *duplicateToOwner) Plan(ctx context.Context, in *engine.StepInput) (engine.Result, error) {
	if _, err := a.d.source(in); err != nil {
		return engine.Result{Status: engine.StatusFailed, Summary: "duplicate-to-owner: " + err.Error()}, err
	}
	return a.planOffline(in)
}

// planOffline plans from the facts: the copy's name and owner are there.
func (a *duplicateToOwner) planOffline(in *engine.StepInput) (engine.Result, error) {
	site, err := eventApp(in)
	if err == nil && in.Facts.App.Owner.ID == "" {
		err = errors.New("the app's owner is unknown")
	}
	if err != nil {
		return engine.Result{Status: engine.StatusFailed, Summary: "duplicate-to-owner: " + err.Error()}, err
	}
	return engine.Result{Status: engine.StatusPlanned,
		Summary: fmt.Sprintf("would copy app %s %s on site %s as %s owned by %s", short(in.Facts.App.ID), q(in.Facts.App.Name), site, q(copyName(in)), in.Facts.App.Owner.Account),
		Values:  map[string]any{"app_id": ""}}, nil
}

func (a *duplicateToOwner) Run(ctx context.Context, in *engine.StepInput) (engine.Result, error) {
	c, err := a.d.source(in)
	if err != nil {
		return engine.Result{}, err
	}
	cp, err := copyToOwner(ctx, a.d, c, in, journalOf(in))
	if err != nil {
		return engine.Result{}, err
	}
	return engine.Result{Status: engine.StatusDone,
		Summary: fmt.Sprintf("copied app %s %s on site %s to %s, owned by %s", short(in.Facts.App.ID), q(in.Facts.App.Name), c.Alias(), cp.ID, in.Facts.App.Owner.Account),
		Values:  map[string]any{"app_id": cp.ID, "url": hubURL(c.HubHost(), cp.ID)}}, nil
}

// copyToOwner copies the event's app under a temporary name, then renames
// the copy and hands it to the owner in one update. The journal key "copy"
// holds the copy's id ("creating" before the copy is made); with the
// temporary name, a retry finds the copy an interrupted attempt made.
func copyToOwner(ctx context.Context, d Deps, c *qrs.Client, in *engine.StepInput, j engine.Journal) (*qrs.App, error) {
	owner := in.Facts.App.Owner
	if owner.ID == "" {
		return nil, fmt.Errorf("app %s has no known owner; cannot hand a copy to it", in.Facts.App.ID)
	}
	var cp *qrs.App
	if v, ok := j.Get("copy"); ok && v != creating {
		app, err := c.App(ctx, v)
		switch {
		case err == nil:
			cp = app
		case !qrs.IsNotFound(err):
			return nil, err
		}
	}
	if cp == nil {
		if err := j.Put("copy", creating); err != nil {
			return nil, err
		}
		tmp := tempName(in, "copy")
		app, err := createOnce(ctx, c, d.Retry, tmp, func(ctx context.Context) (*qrs.App, error) {
			return c.CopyApp(ctx, in.Facts.App.ID, tmp)
		})
		if err != nil {
			return nil, fmt.Errorf("copying app %s %s on site %s: %w", in.Facts.App.ID, q(in.Facts.App.Name), c.Alias(), err)
		}
		if err := j.Put("copy", app.ID); err != nil {
			return nil, err
		}
		cp = app
	}
	name := copyName(in)
	cp, err := c.UpdateApp(ctx, cp.ID, func(app *qrs.App) error {
		app.Name = name
		if app.Owner.ID != owner.ID {
			app.Owner = qrs.UserCondensed{ID: owner.ID, UserID: owner.UserID, UserDirectory: owner.Directory, Name: owner.Name}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("handing copy %s to %s: %w", in.Facts.App.ID, owner.Account, err)
	}
	in.Log.Info("copied app to its owner", "site", c.Alias(), "app", in.Facts.App.ID, "copy", cp.ID, "owner", owner.Account)
	return cp, nil
}
