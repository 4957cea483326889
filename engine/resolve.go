package engine

import (
	"fmt"
	"html"
	"math"
	"reflect"
	"strconv"
	"strings"
)

// resolve computes the step's parameters for one execution, each converted
// to its declared kind, defaults filled in; defaulted names those.
func (s *Step) resolve(env any, sites *sitesIndex) (out Params, defaulted []string, err error) {
	out = make(Params, len(s.params))
	for _, pe := range s.params {
		v, present, err := pe.resolve(env, sites)
		if err != nil {
			return out, defaulted, fmt.Errorf("parameter %s: %w", pe.spec.Name, err)
		}
		if present {
			out[pe.spec.Name] = v
			if !pe.set {
				defaulted = append(defaulted, pe.spec.Name)
			}
		}
	}
	return out, defaulted, nil
}

func (pe *paramExpr) resolve(env any, sites *sitesIndex) (any, bool, error) {
	if !pe.set {
		if pe.spec.Default == nil {
			return nil, false, nil
		}
		v, err := convert(pe.spec.Kind, pe.spec.Default, sites)
		return v, true, err
	}
	if pe.isList {
		var vals []any
		for _, it := range pe.items {
			if it.tpl == nil {
				vals = append(vals, it.literal)
				continue
			}
			v, err := it.tpl.eval(env, false)
			if err != nil {
				return nil, false, err
			}
			vals = append(vals, v)
		}
		v, err := convert(pe.spec.Kind, vals, sites)
		return v, true, err
	}
	if pe.tree != nil {
		v, err := pe.tree.eval(env)
		return v, err == nil, err
	}
	if pe.tpl == nil {
		return pe.literal, true, nil
	}
	v, err := pe.tpl.eval(env, pe.spec.Kind == KindHTML)
	if err != nil {
		return nil, false, err
	}
	if !pe.tpl.whole {
		s := v.(string)
		if pe.spec.Kind == KindString && strings.ContainsAny(s, "\r\n") {
			return nil, false, fmt.Errorf("a value interpolated into this one-line parameter holds a line break: %q", s)
		}
		return s, true, nil
	}
	if pe.spec.Kind == KindHTML {
		return html.EscapeString(formatValue(v)), true, nil
	}
	v, err = convert(pe.spec.Kind, v, sites)
	return v, true, err
}

// eval resolves the templates of a tree: a mapping becomes a
// map[string]any, a list a []any; a template's value is its expression's
// (exactly one {{ }}) or its text.
func (t *anyTree) eval(env any) (any, error) {
	switch {
	case t.isMap:
		out := make(map[string]any, len(t.keys))
		for i, k := range t.keys {
			v, err := t.items[i].eval(env)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			out[k] = v
		}
		return out, nil
	case t.isList:
		out := make([]any, len(t.items))
		for i, it := range t.items {
			v, err := it.eval(env)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			out[i] = v
		}
		return out, nil
	case t.tpl != nil:
		return t.tpl.eval(env, false)
	}
	return t.literal, nil
}

// convert turns a value into a parameter kind's Go type.
func convert(k Kind, v any, sites *sitesIndex) (any, error) {
	switch k {
	case KindString:
		s := formatValue(v)
		if strings.ContainsAny(s, "\r\n") {
			return nil, fmt.Errorf("the value holds a line break, and this parameter is one line: %q", s)
		}
		return s, nil
	case KindText, KindHTML:
		return formatValue(v), nil
	case KindBool:
		switch b := v.(type) {
		case bool:
			return b, nil
		case string:
			if p, err := strconv.ParseBool(strings.TrimSpace(b)); err == nil {
				return p, nil
			}
		}
		return nil, fmt.Errorf("wants true or false, got %s", describe(v))
	case KindInt:
		rv := reflect.ValueOf(v)
		switch {
		case rv.CanInt():
			return int(rv.Int()), nil
		case rv.CanUint():
			return int(rv.Uint()), nil
		case rv.CanFloat() && rv.Float() == math.Trunc(rv.Float()):
			return int(rv.Float()), nil
		case rv.Kind() == reflect.String:
			if i, err := strconv.Atoi(strings.TrimSpace(rv.String())); err == nil {
				return i, nil
			}
		}
		return nil, fmt.Errorf("wants a whole number, got %s", describe(v))
	case KindStrings:
		out := []string{}
		flatten(v, func(x any) {
			if s := strings.TrimSpace(formatValue(x)); s != "" {
				out = append(out, s)
			}
		})
		return out, nil
	case KindTargets:
		out := []Target{}
		var bad []string
		seen := map[Target]bool{}
		flatten(v, func(x any) {
			var t Target
			switch x := x.(type) {
			case Target:
				t = x
			default:
				s := strings.TrimSpace(formatValue(x))
				if s == "" {
					return
				}
				var err error
				if t, err = sites.parseTarget(s); err != nil {
					bad = append(bad, err.Error())
					return
				}
			}
			if !seen[t] {
				seen[t] = true
				out = append(out, t)
			}
		})
		if len(bad) > 0 {
			return out, fmt.Errorf("bad targets: %s", strings.Join(bad, "; "))
		}
		return out, nil
	}
	return v, nil
}

// flatten calls fn for every leaf of nested lists.
func flatten(v any, fn func(any)) {
	switch v := v.(type) {
	case nil:
	case []any:
		for _, x := range v {
			flatten(x, fn)
		}
	case []string:
		for _, x := range v {
			fn(x)
		}
	case []Target:
		for _, x := range v {
			fn(x)
		}
	default:
		rv := reflect.ValueOf(v)
		if rv.Kind() == reflect.Slice || rv.Kind() == reflect.Array {
			for i := 0; i < rv.Len(); i++ {
				flatten(rv.Index(i).Interface(), fn)
			}
			return
		}
		fn(v)
	}
}

func describe(v any) string {
	if v == nil {
		return "nothing (nil)"
	}
	return fmt.Sprintf("%v (%s)", v, typeName(reflect.TypeOf(v)))
}
