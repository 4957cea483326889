package console

import (
	"net/http"

	"github.com/qs-promoter/qs-promoter/daemon"
	"github.com/qs-promoter/qs-promoter/store"
)

// approvals is the Approvals page's data.
type approvals struct {
	Waiting   []daemon.WaitingApp
	Problem   string // a site could not be read
	Decisions []store.AuditRecord
}

// showApprovals lists the apps on the watched sites that wait for a
// reviewer's decision, read from the sites now, and the last decisions the
// policies acted on (GET /approvals).
func (c *Console) showApprovals(w http.ResponseWriter, r *http.Request) {
	var a approvals
	var err error
	if a.Waiting, err = c.b.Approvals(r.Context()); err != nil {
		a.Problem = err.Error()
	}
	page, err := c.b.AuditRecords(r.Context(), store.AuditQuery{Type: "decision", Outcome: "acted", Limit: 20})
	if err != nil {
		a.Problem += err.Error()
	}
	a.Decisions = page.Records
	c.render(w, r, "approvals", http.StatusOK, "Approvals", a)
}
