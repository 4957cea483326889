package console

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/qs-promoter/qs-promoter/store"
)

// executionView is one execution's page data.
type executionView struct {
	store.Execution
	Attempts []decision
	Steps    []step
	Event    []byte // the recorded event, indented
	CanRetry bool   // it failed for good: an operator may run it again
	Notice   string // after a button: what happened
}

// decision is an attempt's decision record, as the audit keeps it.
type decision struct {
	Attempt  int      `json:"attempt"`
	Outcome  string   `json:"outcome"`
	Reason   string   `json:"reason"`
	Kinds    []string `json:"kinds"`
	Changed  []string `json:"changed"`
	Revision string   `json:"revision"`
	Duration float64  `json:"duration_s"`
	Policies []struct {
		Name    string `json:"name"`
		Matched bool   `json:"matched"`
		Reason  string `json:"reason"`
		Error   string `json:"error"`
	} `json:"policies"`
	Record store.AuditRecord `json:"-"`
}

// step is a step's audit record.
type step struct {
	Policy   string         `json:"policy"`
	Step     string         `json:"step"`
	Action   string         `json:"action"`
	Params   map[string]any `json:"params"`
	Status   string         `json:"status"`
	Summary  string         `json:"summary"`
	Details  []string       `json:"details"`
	Error    string         `json:"error"`
	Resumed  bool           `json:"resumed"`
	Duration float64        `json:"duration_s"`
	Record   store.AuditRecord
}

// maxExecutionRecords bounds the audit records one execution's page reads
// (a policy set runs a handful of steps per attempt).
const maxExecutionRecords = 1000

// showExecution shows one execution: its event, each attempt's decision
// (every policy's match, the false clause of a miss) and each step's
// result (GET /executions/{id}).
func (c *Console) showExecution(w http.ResponseWriter, r *http.Request) {
	v, err := c.execution(r, r.PathValue("id"))
	if err != nil {
		c.fail(w, r, statusOf(err), "Execution "+r.PathValue("id"), err)
		return
	}
	c.render(w, r, "execution", http.StatusOK, "Execution "+v.ID, v)
}

var errNotFound = errors.New("no such execution (it may have been pruned)")

func statusOf(err error) int {
	if errors.Is(err, errNotFound) {
		return http.StatusNotFound
	}
	return http.StatusInternalServerError
}

func (c *Console) execution(r *http.Request, id string) (*executionView, error) {
	e, err := c.b.Execution(r.Context(), id)
	if err != nil {
		return nil, err
	}
	if e == nil {
		return nil, errNotFound
	}
	v := &executionView{Execution: *e}
	v.CanRetry = e.State == store.StateFailed
	if len(e.Event) > 0 {
		v.Event = []byte(prettyJSON(e.Event))
	}
	page, err := c.b.AuditRecords(r.Context(), store.AuditQuery{ExecutionID: id, Oldest: true, Limit: maxExecutionRecords})
	if err != nil {
		return nil, err
	}
	for _, rec := range page.Records {
		switch rec.Type {
		case "decision":
			var d decision
			_ = json.Unmarshal(rec.Record, &d)
			d.Record = rec
			v.Attempts = append(v.Attempts, d)
		case "step":
			var s step
			_ = json.Unmarshal(rec.Record, &s)
			s.Record = rec
			v.Steps = append(v.Steps, s)
		}
	}
	return v, nil
}
