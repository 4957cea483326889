package actions

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/qs-promoter/qs-promoter/engine"
	"github.com/qs-promoter/qs-promoter/qrs"
)

func init() { register(func(d Deps) engine.Action { return &removeProperties{d: d} }) }

var (
	_ engine.Action  = (*removeProperties)(nil)
	_ engine.Planner = (*removeProperties)(nil)
	_ offlinePlanner = (*removeProperties)(nil)
)

// removeProperties strips custom properties (all their values) from the event's app.
type removeProperties struct{ d Deps }

func (a *removeProperties) Spec() engine.ActionSpec {
	return engine.ActionSpec{
		Name:    "remove-custom-properties",
		Summary: "Remove every value of the named custom properties from the app.",
		Params: []engine.Param{
			{Name: "names", Kind: engine.KindStrings, Required: true, Doc: "custom property names"},
		},
		Example: `- action: remove-custom-properties
  with:
    names: [PromoteToServer, PromoteToStream, PromotionApproval]
`,
	}
}

// strip removes the named properties' values from cps, returning what was
// removed. With seen non-nil, only values the evaluated facts held are
// removed: a value set since (a new approval made while this execution ran)
// is kept, and listed in newer, so that it is evaluated in turn.
func strip(cps []qrs.CustomPropertyValue, names []string, seen map[string][]string) (kept []qrs.CustomPropertyValue, removed, newer []string) {
	drop := map[string]bool{}
	for _, n := range names {
		drop[strings.ToLower(strings.TrimSpace(n))] = true
	}
	kept = cps[:0:0]
	for _, cp := range cps {
		switch {
		case !drop[strings.ToLower(cp.Definition.Name)]:
			kept = append(kept, cp)
		case seen != nil && !hadValue(seen, cp.Definition.Name, cp.Value):
			kept = append(kept, cp)
			newer = append(newer, cp.Definition.Name+"="+cp.Value)
		default:
			removed = append(removed, cp.Definition.Name+"="+cp.Value)
		}
	}
	return kept, removed, newer
}

// hadValue reports whether the properties held name (case-insensitive) = value.
func hadValue(props map[string][]string, name, value string) bool {
	for n, vs := range props {
		if strings.EqualFold(n, name) && slices.Contains(vs, value) {
			return true
		}
	}
	return false
}

func (a *removeProperties) Plan(ctx context.Context, in *engine.StepInput) (engine.Result, error) {
	c, app, err := readEventApp(ctx, a.d, in)
	if err != nil {
		return engine.Result{Status: engine.StatusFailed, Summary: "remove-custom-properties: " + err.Error()}, err
	}
	_, removed, _ := strip(app.CustomProperties, in.Params.Strings("names"), nil)
	if len(removed) == 0 {
		return engine.Result{Status: engine.StatusSkipped, Summary: fmt.Sprintf("would do nothing: app %s %s has none of those properties", short(app.ID), q(app.Name))}, nil
	}
	return engine.Result{Status: engine.StatusPlanned,
		Summary: fmt.Sprintf("would remove %s from app %s %s on site %s", quoteAll(removed), short(app.ID), q(app.Name), c.Alias())}, nil
}

// planOffline plans from the custom properties the event recorded.
func (a *removeProperties) planOffline(in *engine.StepInput) (engine.Result, error) {
	site, err := eventApp(in)
	if err != nil {
		return engine.Result{Status: engine.StatusFailed, Summary: "remove-custom-properties: " + err.Error()}, err
	}
	app := in.Facts.App
	var cps []qrs.CustomPropertyValue
	names := make([]string, 0, len(app.Properties))
	for n := range app.Properties {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		for _, v := range app.Properties[n] {
			cps = append(cps, qrs.CustomPropertyValue{Value: v, Definition: qrs.CustomPropertyDefinitionCondensed{Name: n}})
		}
	}
	_, removed, _ := strip(cps, in.Params.Strings("names"), nil)
	if len(removed) == 0 {
		return engine.Result{Status: engine.StatusSkipped, Summary: fmt.Sprintf("would do nothing: app %s %s has none of those properties", short(app.ID), q(app.Name))}, nil
	}
	return engine.Result{Status: engine.StatusPlanned,
		Summary: fmt.Sprintf("would remove %s from app %s %s on site %s", quoteAll(removed), short(app.ID), q(app.Name), site)}, nil
}

func (a *removeProperties) Run(ctx context.Context, in *engine.StepInput) (engine.Result, error) {
	c, err := a.d.source(in)
	if err != nil {
		return engine.Result{}, err
	}
	var removed, newer []string
	app, err := c.UpdateApp(ctx, in.Facts.App.ID, func(app *qrs.App) error {
		app.CustomProperties, removed, newer = strip(app.CustomProperties, in.Params.Strings("names"), in.Facts.App.Properties)
		return nil
	})
	if err != nil {
		return engine.Result{}, fmt.Errorf("removing custom properties from app %s on site %s: %w", in.Facts.App.ID, c.Alias(), err)
	}
	var details []string
	if len(newer) > 0 {
		details = append(details, fmt.Sprintf("kept %s: set after this execution read the app; it is evaluated on its own", quoteAll(newer)))
	}
	if len(removed) == 0 {
		return engine.Result{Status: engine.StatusSkipped, Summary: fmt.Sprintf("app %s %s has none of those properties", short(app.ID), q(app.Name)),
			Details: details, Values: map[string]any{"removed": []any{}}}, nil
	}
	return engine.Result{Status: engine.StatusDone,
		Summary: fmt.Sprintf("removed %s from app %s %s on site %s", quoteAll(removed), short(app.ID), q(app.Name), c.Alias()),
		Details: details, Values: map[string]any{"removed": asValue(removed)}}, nil
}
