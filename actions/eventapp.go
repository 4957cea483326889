package actions

import (
	"context"
	"errors"
	"strings"

	"github.com/qs-promoter/qs-promoter/engine"
	"github.com/qs-promoter/qs-promoter/qrs"
)

// The event's app, as the actions that work on it (tags, custom
// properties, copies) read it: from QRS for live plans, from the recorded
// facts for offline ones.

// readEventApp reads the event's app as QRS has it now (for plans).
func readEventApp(ctx context.Context, d Deps, in *engine.StepInput) (*qrs.Client, *qrs.App, error) {
	c, err := d.source(in)
	if err != nil {
		return nil, nil, err
	}
	app, err := c.App(ctx, in.Facts.App.ID)
	if err != nil {
		return nil, nil, err
	}
	return c, app, nil
}

// eventApp checks that the facts name an app, and returns the alias of the
// site the event came from: the offline counterpart of source.
func eventApp(in *engine.StepInput) (string, error) {
	if in.Facts == nil || in.Facts.App.ID == "" {
		return "", errors.New("the event names no app")
	}
	return in.Facts.Event.Site, nil
}

// hasTag reports whether the facts' tags include name (case-insensitive, as QRS compares).
func hasTag(tags []string, name string) bool {
	for _, t := range tags {
		if strings.EqualFold(t, name) {
			return true
		}
	}
	return false
}
