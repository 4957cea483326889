package engine

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
)

// The environment an expression sees is a struct built with reflection at
// load, so that expr type-checks every name: config keys come from the
// policy files' config: declarations and the built-in keys, vars from their own expressions' types, steps from the
// steps before. Field order is fixed: see the env* indexes.
const (
	envApp = iota
	envEvent
	envConfig
	envVars
	envSteps
)

var (
	appFactsType   = reflect.TypeOf(&AppFacts{})
	eventFactsType = reflect.TypeOf(&EventFacts{})
	stepValuesType = reflect.TypeOf(map[string]any{})
)

// shape is what every scope of a rule set shares: the config type, the
// helpers and the names used in messages.
type shape struct {
	configType reflect.Type
	configKeys []string
	values     map[string]any // what policies read as config.<key> unless the facts say otherwise
	sites      *sitesIndex
	funcs      []expr.Option
	names      *friendlyNames
}

// newShape types config.<key> by examples (a value of every key policies
// may read); values are what they read when the facts do not set a key.
func newShape(sites []string, examples, values map[string]any) *shape {
	sh := &shape{sites: newSitesIndex(sites), values: values, names: &friendlyNames{types: map[string]friendlyType{}}}
	for k := range examples {
		sh.configKeys = append(sh.configKeys, k)
	}
	sort.Strings(sh.configKeys)
	fields := []reflect.StructField{{Name: "ConfigMarker", Type: reflect.TypeOf(struct{}{}), Tag: `expr:"-"`}}
	for i, k := range sh.configKeys {
		t := reflect.TypeOf(examples[k])
		if t == nil {
			t = reflect.TypeOf((*any)(nil)).Elem()
		}
		fields = append(fields, reflect.StructField{Name: fmt.Sprintf("F%d", i), Type: t, Tag: reflect.StructTag(fmt.Sprintf(`expr:%q`, k))})
	}
	sh.configType = reflect.StructOf(fields)
	sh.funcs = helperOptions(sh.sites)
	sh.names.types[sh.configType.String()] = friendlyType{"config", sh.configKeys}
	sh.addNames()
	return sh
}

func (sh *shape) addNames() {
	n := sh.names.types
	n[reflect.TypeOf(AppFacts{}).String()] = friendlyType{"app", exprFields(AppFacts{})}
	n[reflect.TypeOf(EventFacts{}).String()] = friendlyType{"event", exprFields(EventFacts{})}
	n[reflect.TypeOf(StreamFacts{}).String()] = friendlyType{"app.stream", exprFields(StreamFacts{})}
	n[reflect.TypeOf(OwnerFacts{}).String()] = friendlyType{"app.owner", exprFields(OwnerFacts{})}
	n[reflect.TypeOf(Target{}).String()] = friendlyType{"a target", exprFields(Target{})}
}

func exprFields(v any) []string {
	t := reflect.TypeOf(v)
	var out []string
	for i := 0; i < t.NumField(); i++ {
		if tag := t.Field(i).Tag.Get("expr"); tag != "" && tag != "-" {
			out = append(out, tag)
		}
	}
	return out
}

// varDef is a named value of a policy, typed by its expression.
type varDef struct {
	name string
	typ  reflect.Type
}

// scope is the set of names one expression sees.
type scope struct {
	typ       reflect.Type
	vars      []varDef
	varsType  reflect.Type
	steps     []string
	stepsType reflect.Type
}

func (sh *shape) scope(vars []varDef, steps []string) *scope {
	s := &scope{vars: vars, steps: steps}
	vf := []reflect.StructField{{Name: "VarsMarker", Type: reflect.TypeOf(struct{}{}), Tag: `expr:"-"`}}
	var vnames []string
	for i, v := range vars {
		vf = append(vf, reflect.StructField{Name: fmt.Sprintf("F%d", i), Type: v.typ, Tag: reflect.StructTag(fmt.Sprintf(`expr:%q`, v.name))})
		vnames = append(vnames, v.name)
	}
	s.varsType = reflect.StructOf(vf)
	sf := []reflect.StructField{{Name: "StepsMarker", Type: reflect.TypeOf(struct{}{}), Tag: `expr:"-"`}}
	for i, id := range steps {
		sf = append(sf, reflect.StructField{Name: fmt.Sprintf("F%d", i), Type: stepValuesType, Tag: reflect.StructTag(fmt.Sprintf(`expr:%q`, id))})
	}
	s.stepsType = reflect.StructOf(sf)
	s.typ = reflect.StructOf([]reflect.StructField{
		{Name: "App", Type: appFactsType, Tag: `expr:"app"`},
		{Name: "Event", Type: eventFactsType, Tag: `expr:"event"`},
		{Name: "Config", Type: sh.configType, Tag: `expr:"config"`},
		{Name: "Vars", Type: s.varsType, Tag: `expr:"vars"`},
		{Name: "Steps", Type: s.stepsType, Tag: `expr:"steps"`},
	})
	sh.names.types[s.varsType.String()] = friendlyType{"vars", vnames}
	stepsName := "steps (the earlier steps of this policy)"
	sh.names.types[s.stepsType.String()] = friendlyType{stepsName, steps}
	return s
}

// compile compiles src against the scope; asBool requires a bool result.
func (sh *shape) compile(s *scope, src string, asBool bool) (*vm.Program, error) {
	opts := append([]expr.Option{expr.Env(reflect.New(s.typ).Elem().Interface())}, sh.funcs...)
	if asBool {
		opts = append(opts, expr.AsBool())
	}
	return expr.Compile(src, opts...)
}

// runEnv holds the values of one evaluation, from which each scope's
// environment is built.
type runEnv struct {
	facts  *Facts
	app    *AppFacts
	event  *EventFacts
	config reflect.Value // of shape.configType
	vars   map[string]any
	steps  map[string]map[string]any
}

func (sh *shape) newRunEnv(f *Facts) *runEnv {
	cfg := reflect.New(sh.configType).Elem()
	for i, k := range sh.configKeys {
		v, ok := f.Config[k]
		if !ok {
			v = sh.values[k]
		}
		if v == nil {
			continue
		}
		fv := cfg.Field(i + 1)
		rv := reflect.ValueOf(v)
		switch {
		case rv.Type().AssignableTo(fv.Type()):
			fv.Set(rv)
		case rv.Type().ConvertibleTo(fv.Type()) && rv.Kind() != reflect.String:
			fv.Set(rv.Convert(fv.Type()))
		}
	}
	return &runEnv{facts: f, app: &f.App, event: &f.Event, config: cfg, vars: map[string]any{}, steps: map[string]map[string]any{}}
}

// value builds the environment value of scope s.
func (s *scope) value(r *runEnv) any {
	env := reflect.New(s.typ).Elem()
	env.Field(envApp).Set(reflect.ValueOf(r.app))
	env.Field(envEvent).Set(reflect.ValueOf(r.event))
	env.Field(envConfig).Set(r.config)
	vars := env.Field(envVars)
	for i, v := range s.vars {
		val, ok := r.vars[v.name]
		if !ok || val == nil {
			continue
		}
		fv := vars.Field(i + 1)
		rv := reflect.ValueOf(val)
		if rv.Type().AssignableTo(fv.Type()) {
			fv.Set(rv)
		}
	}
	steps := env.Field(envSteps)
	for i, id := range s.steps {
		if m, ok := r.steps[id]; ok {
			steps.Field(i + 1).Set(reflect.ValueOf(m))
		}
	}
	return env.Interface()
}

// typeName describes a static type in a message.
func typeName(t reflect.Type) string {
	if t == nil {
		return "any"
	}
	s := t.String()
	s = strings.ReplaceAll(s, "interface {}", "any")
	s = strings.ReplaceAll(s, "engine.", "")
	return s
}
