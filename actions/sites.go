package actions

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/qs-promoter/qs-promoter/engine"
	"github.com/qs-promoter/qs-promoter/qrs"
)

// Retries: the qrs client already retries idempotent calls (GET, PUT,
// DELETE) that fail transiently. It never retries a POST, which might have
// created something before its answer was lost; createOnce does, after
// checking that it did not.

// site returns the client of a configured site.
func (d Deps) site(alias string) (*qrs.Client, error) {
	c := d.Sites[alias]
	if c == nil {
		return nil, fmt.Errorf("site %s is not configured: add it to sites in the configuration", q(alias))
	}
	return c, nil
}

// source returns the client of the site the event came from.
func (d Deps) source(in *engine.StepInput) (*qrs.Client, error) {
	if in.Facts == nil || in.Facts.App.ID == "" {
		return nil, errors.New("the event names no app")
	}
	return d.site(in.Facts.Event.Site)
}

// creating is the journal value written before a call that creates an app
// (upload, copy), replaced by the app's id after it: a retry that finds it
// looks the app up by its temporary name.
const creating = "creating"

// tempName is the deterministic name of an app this step creates before it
// gets its real one: unique to the execution, the step and part, so that a
// retry finds what an interrupted attempt made instead of making another.
func tempName(in *engine.StepInput, part string) string {
	h := sha256.Sum256([]byte(in.StepKey + "\x00" + part))
	return "~qs-promoter " + in.ExecutionID + " " + hex.EncodeToString(h[:6])
}

// createOnce creates an app named name at most once: before each attempt it
// looks for an app of that name (made by an attempt whose answer was lost),
// and transient failures are retried within the budget r.
func createOnce(ctx context.Context, c *qrs.Client, r Retry, name string, create func(context.Context) (*qrs.App, error)) (*qrs.App, error) {
	return try(ctx, r, func(ctx context.Context) (*qrs.App, error) {
		if app, err := findTempApp(ctx, c, name); err != nil || app != nil {
			return app, err
		}
		return create(ctx)
	})
}

// findTempApp returns the app with exactly this name, nil when there is none.
// Should several exist (a crash between two attempts could leave two), the
// extras are deleted: the name is ours alone.
func findTempApp(ctx context.Context, c *qrs.Client, name string) (*qrs.App, error) {
	apps, err := c.Apps(ctx, qrs.Eq("name", name))
	if err != nil {
		return nil, err
	}
	var found *qrs.App
	for i := range apps {
		if apps[i].Name != name {
			continue // eq is case-insensitive
		}
		if found == nil {
			found = &apps[i]
			continue
		}
		if err := c.DeleteApp(ctx, apps[i].ID); err != nil && !qrs.IsNotFound(err) {
			return nil, err
		}
	}
	return found, nil
}
