package actions

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/qs-promoter/qs-promoter/engine"
	"github.com/qs-promoter/qs-promoter/qrs"
)

func init() { register(func(d Deps) engine.Action { return &setProperty{d: d} }) }

var (
	_ engine.Action  = (*setProperty)(nil)
	_ engine.Planner = (*setProperty)(nil)
	_ offlinePlanner = (*setProperty)(nil)
)

// setProperty replaces the values of one custom property on the event's app.
type setProperty struct{ d Deps }

func (a *setProperty) Spec() engine.ActionSpec {
	return engine.ActionSpec{
		Name:    "set-custom-property",
		Summary: "Set a custom property of the app to the given values (replacing its values).",
		Params: []engine.Param{
			{Name: "name", Kind: engine.KindString, Required: true, Doc: "custom property name"},
			{Name: "values", Kind: engine.KindStrings, Required: true, Doc: "its new values; an empty list removes it"},
		},
		Example: `- action: set-custom-property
  with: {name: PromotionApproval, values: [Pending]}
`,
	}
}

// definition finds the property's definition and checks the values against it.
func (a *setProperty) definition(ctx context.Context, c *qrs.Client, name string, values []string) (*qrs.CustomPropertyDefinition, error) {
	defs, err := c.CustomPropertyDefinitions(ctx, qrs.Eq("name", name))
	if err != nil {
		return nil, err
	}
	var def *qrs.CustomPropertyDefinition
	for i := range defs {
		if strings.EqualFold(defs[i].Name, name) {
			def = &defs[i]
		}
	}
	if def == nil {
		return nil, fmt.Errorf("custom property %s is not defined on site %s: create it in the QMC (resource type App)", q(name), c.Alias())
	}
	if !slices.ContainsFunc(def.ObjectTypes, func(t string) bool { return strings.EqualFold(t, "App") }) {
		return nil, fmt.Errorf("custom property %s on site %s does not apply to apps: add App to its resource types in the QMC", q(name), c.Alias())
	}
	if len(def.ChoiceValues) > 0 {
		for _, v := range values {
			if !slices.Contains(def.ChoiceValues, v) {
				return nil, fmt.Errorf("%s is not a value of custom property %s on site %s (choices: %s)", q(v), q(name), c.Alias(), quoteAll(def.ChoiceValues))
			}
		}
	}
	return def, nil
}

// planOffline cannot check the property's definition: it is on the site.
func (a *setProperty) planOffline(in *engine.StepInput) (engine.Result, error) {
	site, err := eventApp(in)
	if err != nil {
		return engine.Result{Status: engine.StatusFailed, Summary: "set-custom-property: " + err.Error()}, err
	}
	return engine.Result{Status: engine.StatusPlanned,
		Summary: fmt.Sprintf("would set %s of app %s %s on site %s to %s (the property's definition is checked on the site)",
			q(in.Params.String("name")), short(in.Facts.App.ID), q(in.Facts.App.Name), site, quoteAll(in.Params.Strings("values")))}, nil
}

func (a *setProperty) Plan(ctx context.Context, in *engine.StepInput) (engine.Result, error) {
	c, app, err := readEventApp(ctx, a.d, in)
	if err == nil {
		_, err = a.definition(ctx, c, in.Params.String("name"), in.Params.Strings("values"))
	}
	if err != nil {
		return engine.Result{Status: engine.StatusFailed, Summary: "set-custom-property: " + err.Error()}, err
	}
	return engine.Result{Status: engine.StatusPlanned,
		Summary: fmt.Sprintf("would set %s of app %s %s on site %s to %s", q(in.Params.String("name")), short(app.ID), q(app.Name), c.Alias(), quoteAll(in.Params.Strings("values")))}, nil
}

func (a *setProperty) Run(ctx context.Context, in *engine.StepInput) (engine.Result, error) {
	c, err := a.d.source(in)
	if err != nil {
		return engine.Result{}, err
	}
	name, values := in.Params.String("name"), in.Params.Strings("values")
	def, err := a.definition(ctx, c, name, values)
	if err != nil {
		return engine.Result{}, err
	}
	app, err := c.UpdateApp(ctx, in.Facts.App.ID, func(app *qrs.App) error {
		kept := app.CustomProperties[:0:0]
		var have []string
		for _, cp := range app.CustomProperties {
			if cp.Definition.ID == def.ID || strings.EqualFold(cp.Definition.Name, def.Name) {
				have = append(have, cp.Value)
				continue
			}
			kept = append(kept, cp)
		}
		if slices.Equal(have, values) {
			return nil // unchanged: nothing is written
		}
		for _, v := range values {
			kept = append(kept, qrs.CustomPropertyValue{Value: v, Definition: qrs.CustomPropertyDefinitionCondensed{ID: def.ID, Name: def.Name}})
		}
		app.CustomProperties = kept
		return nil
	})
	if err != nil {
		return engine.Result{}, fmt.Errorf("setting %s on app %s on site %s: %w", q(name), in.Facts.App.ID, c.Alias(), err)
	}
	return engine.Result{Status: engine.StatusDone,
		Summary: fmt.Sprintf("set %s of app %s %s on site %s to %s", q(def.Name), short(app.ID), q(app.Name), c.Alias(), quoteAll(values))}, nil
}
