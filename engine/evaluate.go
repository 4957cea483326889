package engine

import (
	"fmt"
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
		if contains(p.On, k) {
			kind = k
			break
		}
	}
	if kind == "" {
		m.Reason = fmt.Sprintf("on: the event is %s, the policy runs on %s", strings.Join(eventKinds(f), ", "), strings.Join(p.On, ", "))
		return
	}
	for i, c := range p.clauses {
		out, err := machine.Run(c.prog, env)
		if err != nil {
			err = runError(err)
			m.Err = fmt.Sprintf("when: %s: %v", c.src, err)
			m.Reason = "when failed: " + m.Err
			return
		}
		if ok, _ := out.(bool); !ok {
			if len(p.clauses) == 1 {
				m.Reason = "when is false: " + c.src
			} else {
				m.Reason = fmt.Sprintf("when clause %d of %d is false: %s", i+1, len(p.clauses), c.src)
			}
			return
		}
	}
	m.Matched = true
	switch {
	case len(p.clauses) == 0:
		m.Reason = fmt.Sprintf("the event is %s (no when)", kind)
	case len(p.clauses) == 1:
		m.Reason = fmt.Sprintf("the event is %s and when is true", kind)
	default:
		m.Reason = fmt.Sprintf("the event is %s and all %d when clauses are true", kind, len(p.clauses))
	}
}

func eventKinds(f *Facts) []string {
	if len(f.Event.Kinds) == 0 {
		return []string{"of no kind"}
	}
	return f.Event.Kinds
}
