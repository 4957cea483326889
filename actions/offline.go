package actions

import (
	"errors"
	"strings"

	"github.com/qs-promoter/qs-promoter/engine"
)

// Offline plans (Deps.Offline) describe a step from the event's facts
// alone, for an admin trying a recorded event without any site: they read
// nothing, so they cannot say which apps exist, only what would be done.

// errOffline is what every Run returns offline: an offline Deps has no
// sites to write to, and a run from a recorded event must never be mistaken
// for a real one.
var errOffline = errors.New("actions are offline (planning from a recorded event): nothing can be run")

// online fails when the actions are offline; every Run calls it first.
func (d Deps) online() error {
	if d.Offline {
		return errOffline
	}
	return nil
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
