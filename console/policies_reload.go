package console

import (
	"fmt"
	"net/http"
)

// reloadPolicies reloads the policy folder (POST /policies/reload): the
// page then shows the new revision, or the errors while the previous
// policies stay in force.
func (c *Console) reloadPolicies(w http.ResponseWriter, r *http.Request) {
	if err := c.reload(r); err != nil {
		c.render(w, r, "policies", http.StatusOK, "Policies", c.policies(r, "Reload failed; the previous policies stay in force.", true))
		return
	}
	rs := c.b.Policies()
	c.render(w, r, "policies", http.StatusOK, "Policies", c.policies(r, fmt.Sprintf("Reloaded: revision %s, %d policies in %d files.", rs.Revision, len(rs.Policies), len(rs.Files)), false))
}
