package console

import (
	"net/http"
	"path/filepath"

	"github.com/qs-promoter/qs-promoter/daemon"
	"github.com/qs-promoter/qs-promoter/engine"
)

// policiesView is the Policies page's data.
type policiesView struct {
	Status daemon.RulesStatus
	Dir    string
	Files  []policyFile
	Notice string // after the Reload button
	Failed bool
}

type policyFile struct {
	Name     string
	Policies []*engine.Policy
}

// showPolicies lists the policy files in use with their policies, the
// revision, and the last reload with its errors at their positions (GET
// /policies).
func (c *Console) showPolicies(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, "policies", http.StatusOK, "Policies", c.policies(r, "", false))
}

func (c *Console) policies(r *http.Request, notice string, failed bool) policiesView {
	rs := c.b.Policies()
	v := policiesView{Status: c.b.StatusContext(r.Context()).Policies, Dir: c.b.Config().Policies, Notice: notice, Failed: failed}
	for _, f := range rs.Files {
		pf := policyFile{Name: filepath.Base(f)}
		for _, p := range rs.Policies {
			if p.File == f {
				pf.Policies = append(pf.Policies, p)
			}
		}
		v.Files = append(v.Files, pf)
	}
	return v
}
