package engine

import (
	"fmt"
	"slices"
	"strings"

	"github.com/expr-lang/expr/vm"
)

// Match is the outcome of one policy's `on` and `when` for a fact set.
type Match struct {
	Policy  *Policy `json:"-"`
	Matched bool    `json:"matched"`
	Reason  string  `json:"reason"`          // why it matched, or which clause was false
	Err     string  `json:"error,omitempty"` // the when failed to run
}

// Evaluate matches every policy against f, in order, honouring stop: after
// a matched policy with stop: true, later policies are reported as not
// evaluated.
func (rs *Ruleset) Evaluate(f *Facts) []Match {
	out := make([]Match, len(rs.Policies))
	env := rs.whenScope.value(rs.shape.newRunEnv(f))
	var machine vm.VM // reused across policies: one stack for the whole evaluation
	stoppedBy := ""
	for i, p := range rs.Policies {
		m := &out[i]
		m.Policy = p
		if stoppedBy != "" {
			m.Reason = fmt.Sprintf("not evaluated: policy %q matched and has stop: true", stoppedBy)
			continue
		}
		rs.match(&machine, p, f, env, m)
		if m.Matched && p.Stop {
			stoppedBy = p.Name
		}
	}
	return out
}

func (rs *Ruleset) match(machine *vm.VM, p *Policy, f *Facts, env any, m *Match) {
	kind := ""
	for _, k := range f.Event.Kinds {
		if slices.Contains(p.On, k) {
			kind = k
			break
		}
	}
	if kind == "" {
		m.Reason = "on: the event is " + strings.Join(eventKinds(f), ", ") + ", the policy runs on " + p.onText
		return
	}
	if p.match != nil {
		out, err := machine.Run(p.match, env)
		if err != nil {
			m.Err = fmt.Sprintf("when: %v", runError(err))
			m.Reason = fmt.Sprintf("when failed: %v", runError(err))
			return
		}
		switch v := out.(type) {
		case bool:
			if !v {
				m.Reason = p.missReasons[0]
				return
			}
		case int:
			if v > 0 && v <= len(p.missReasons) {
				m.Reason = p.missReasons[v-1]
				return
			}
		default:
			m.Err = fmt.Sprintf("when gave %v, not true or false", out)
			m.Reason = m.Err
			return
		}
	}
	m.Matched = true
	m.Reason = p.matchReasons[kind]
}

func eventKinds(f *Facts) []string {
	if len(f.Event.Kinds) == 0 {
		return []string{"of no kind"}
	}
	return f.Event.Kinds
}
