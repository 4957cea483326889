package actions

import (
	"context"
	"errors"

	"github.com/qs-promoter/qs-promoter/engine"
)

// Offline plans (Deps.Offline) describe a step from the event's facts
// alone, for an admin trying a recorded event without any site: they read
// nothing, so they cannot say which apps exist, only what would be done.

// errOffline is what every Run returns offline: an offline Deps has no
// sites to write to, and a run from a recorded event must never be mistaken
// for a real one.
var errOffline = errors.New("actions are offline (planning from a recorded event): nothing can be run")

// offlinePlanner is an action that can plan from the event's facts alone,
// contacting nothing. An action that is not one is planned offline from its
// spec (engine.PlanFromSpec).
type offlinePlanner interface {
	planOffline(in *engine.StepInput) (engine.Result, error)
}

// offline wraps an action built with an offline Deps: Run refuses, and the
// plan is the action's offline plan, if it has one.
func offline(a engine.Action) engine.Action {
	if p, ok := a.(offlinePlanner); ok {
		return offlinePlanning{offlineAction{a}, p}
	}
	return offlineAction{a}
}

// offlineAction refuses to run; it is no engine.Planner.
type offlineAction struct{ engine.Action }

func (offlineAction) Run(context.Context, *engine.StepInput) (engine.Result, error) {
	return engine.Result{}, errOffline
}

// offlinePlanning is an offline action that plans from the facts.
type offlinePlanning struct {
	offlineAction
	p offlinePlanner
}

func (a offlinePlanning) Plan(_ context.Context, in *engine.StepInput) (engine.Result, error) {
	return a.p.planOffline(in)
}
