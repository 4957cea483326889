package engine

import (
	"fmt"
	"strings"

	"github.com/expr-lang/expr"
)

// Helper is one function of the policy language, for the docs.
type Helper struct {
	Name    string
	Usage   string
	Doc     string
	Example string
}

// Helpers lists the functions the policy language adds to expr's builtins.
var Helpers = []Helper{
	{"first", "first(list)", `The first item of a list; "" for an empty list of strings.`, `first(app.properties.PromotionApproval)`},
	{"is_true", "is_true(value)", `True for a bool true, for the string "true" (any case, trimmed), or for a list whose first item is.`, `is_true(app.properties.PromotionUnpublish)`},
	{"prop", "prop(properties, name)", `The first value of a custom property, the name compared case-insensitively; "" if absent.`, `prop(app.stream.properties, "emailalertonpublishto")`},
	{"props", "props(properties, name)", `Every value of a custom property, the name compared case-insensitively.`, `props(app.properties, "promotetostream")`},
	{"has_prop", "has_prop(properties, name)", `Whether a custom property has at least one value (name case-insensitive).`, `has_prop(app.stream.properties, "EmailAlertOnPublishTo")`},
	{"has_tag", "has_tag(tags, name)", `Whether a list of tags holds the name, compared case-insensitively.`, `has_tag(app.tags, "PromoteOnReload")`},
	{"targets", "targets(values)", `Parses "<site> - Overwrite|Duplicate" values into targets {site, mode} for the configured sites; malformed values and unknown sites are left out (see bad_targets).`, `targets(app.properties.PromoteToServer)`},
	{"bad_targets", "bad_targets(values)", `One message per value that targets() leaves out, saying why.`, `len(bad_targets(app.properties.PromoteToServer)) == 0`},
	{"sites", "sites(targets)", `The site aliases of a list of targets.`, `join(sites(vars.targets), ", ")`},
	{"may_approve", "may_approve(app, account)", `Whether account may approve the app under four eyes: it is not the owner's, and when the approvers file lists anyone for the app's stream, it is listed (as the account, or as the e-mail address QRS holds for it).`, `may_approve(app, prop(app.set_by, config.approval_property))`},
	{"approver_problem", "approver_problem(app, account)", `Why account may not approve the app under four eyes; "" when it may.`, `approver_problem(app, prop(app.set_by, config.approval_property))`},
}

// sitesIndex resolves site aliases case-insensitively to their configured spelling.
type sitesIndex struct {
	names []string
	byKey map[string]string
}

func newSitesIndex(sites []string) *sitesIndex {
	s := &sitesIndex{byKey: map[string]string{}}
	for _, a := range sites {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		if _, dup := s.byKey[normalise(a)]; !dup {
			s.names = append(s.names, a)
			s.byKey[normalise(a)] = a
		}
	}
	return s
}

// parseTarget parses "test - Overwrite". With no configured sites any
// alias is accepted (as for `check` without a configuration).
func (s *sitesIndex) parseTarget(v string) (Target, error) {
	i := strings.LastIndex(v, "-")
	if i < 0 {
		return Target{}, fmt.Errorf("%q is not \"<site> - Overwrite\" or \"<site> - Duplicate\"", v)
	}
	alias, modeText := strings.TrimSpace(v[:i]), v[i+1:]
	mode, err := ParseMode(modeText)
	if err != nil {
		return Target{}, fmt.Errorf("%q: %v", v, err)
	}
	if alias == "" {
		return Target{}, fmt.Errorf("%q names no site before the \"-\"", v)
	}
	if len(s.names) > 0 {
		known, ok := s.byKey[normalise(alias)]
		if !ok {
			return Target{}, fmt.Errorf("%q: unknown site %q (the sites are %s)", v, alias, strings.Join(s.names, ", "))
		}
		alias = known
	}
	return Target{Site: alias, Mode: mode}, nil
}

// parseTargets parses every value, de-duplicating identical targets and
// collecting a message per bad value.
func (s *sitesIndex) parseTargets(values []string) ([]Target, []string) {
	out := []Target{}
	var bad []string
	seen := map[Target]bool{}
	for _, v := range values {
		if strings.TrimSpace(v) == "" {
			continue
		}
		t, err := s.parseTarget(v)
		if err != nil {
			bad = append(bad, err.Error())
			continue
		}
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out, bad
}

// String formats a target the way PromoteToServer values are written.
func (t Target) String() string {
	mode := t.Mode
	if mode != "" {
		mode = strings.ToUpper(mode[:1]) + mode[1:]
	}
	return t.Site + " - " + mode
}

// stringList accepts the values helpers take: a string, a list of strings,
// or a list of anything stringy (expr builds []any for literals).
func stringList(v any) []string {
	switch v := v.(type) {
	case nil:
		return nil
	case string:
		return []string{v}
	case []string:
		return v
	case []any:
		out := make([]string, 0, len(v))
		for _, x := range v {
			if x != nil {
				out = append(out, fmt.Sprint(x))
			}
		}
		return out
	}
	return []string{fmt.Sprint(v)}
}

func lookupProp(props map[string][]string, name string) []string {
	if v, ok := props[name]; ok {
		return v
	}
	for k, v := range props {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return nil
}

func isTrue(v any) bool {
	switch v := v.(type) {
	case bool:
		return v
	case string:
		return normalise(v) == "true"
	case []string:
		return len(v) > 0 && normalise(v[0]) == "true"
	case []any:
		return len(v) > 0 && isTrue(v[0])
	}
	return false
}

// helperOptions returns the expr functions, typed so that misuse is a load error.
func helperOptions(sites *sitesIndex) []expr.Option {
	return []expr.Option{
		expr.Function("first", func(p ...any) (any, error) {
			switch v := p[0].(type) {
			case []string:
				if len(v) == 0 {
					return "", nil
				}
				return v[0], nil
			case []Target:
				if len(v) == 0 {
					return Target{}, nil
				}
				return v[0], nil
			case []any:
				if len(v) == 0 {
					return nil, nil
				}
				return v[0], nil
			}
			return nil, fmt.Errorf("first() wants a list, not %T", p[0])
		}, new(func([]string) string), new(func([]Target) Target), new(func([]any) any)),
		expr.Function("is_true", func(p ...any) (any, error) { return isTrue(p[0]), nil },
			new(func(bool) bool), new(func(string) bool), new(func([]string) bool), new(func([]any) bool)),
		expr.Function("prop", func(p ...any) (any, error) {
			v := lookupProp(p[0].(map[string][]string), p[1].(string))
			if len(v) == 0 {
				return "", nil
			}
			return v[0], nil
		}, new(func(map[string][]string, string) string)),
		expr.Function("props", func(p ...any) (any, error) {
			v := lookupProp(p[0].(map[string][]string), p[1].(string))
			if v == nil {
				v = []string{}
			}
			return v, nil
		}, new(func(map[string][]string, string) []string)),
		expr.Function("has_prop", func(p ...any) (any, error) {
			for _, v := range lookupProp(p[0].(map[string][]string), p[1].(string)) {
				if strings.TrimSpace(v) != "" {
					return true, nil
				}
			}
			return false, nil
		}, new(func(map[string][]string, string) bool)),
		expr.Function("has_tag", func(p ...any) (any, error) {
			name := p[1].(string)
			for _, t := range stringList(p[0]) {
				if strings.EqualFold(strings.TrimSpace(t), strings.TrimSpace(name)) {
					return true, nil
				}
			}
			return false, nil
		}, new(func([]string, string) bool), new(func([]any, string) bool)),
		expr.Function("targets", func(p ...any) (any, error) {
			t, _ := sites.parseTargets(stringList(p[0]))
			return t, nil
		}, new(func([]string) []Target), new(func(string) []Target), new(func([]any) []Target)),
		expr.Function("bad_targets", func(p ...any) (any, error) {
			_, bad := sites.parseTargets(stringList(p[0]))
			if bad == nil {
				bad = []string{}
			}
			return bad, nil
		}, new(func([]string) []string), new(func(string) []string), new(func([]any) []string)),
		expr.Function("sites", func(p ...any) (any, error) {
			ts, _ := p[0].([]Target)
			out := make([]string, len(ts))
			for i, t := range ts {
				out[i] = t.Site
			}
			return out, nil
		}, new(func([]Target) []string)),
		expr.Function("may_approve", func(p ...any) (any, error) {
			return p[0].(*AppFacts).ApproverProblem(p[1].(string)) == "", nil
		}, new(func(*AppFacts, string) bool)),
		expr.Function("approver_problem", func(p ...any) (any, error) {
			return p[0].(*AppFacts).ApproverProblem(p[1].(string)), nil
		}, new(func(*AppFacts, string) string)),
	}
}
