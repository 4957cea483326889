package console

import (
	"net/http"
	"strings"

	"github.com/qs-promoter/qs-promoter/engine"
	"github.com/qs-promoter/qs-promoter/qrs"
)

// dryRunView is the Dry-run page's data: the forms, the apps found, and a
// report once one ran.
type dryRunView struct {
	Sites     []string
	Site, Q   string
	Kind      string
	Apps      []qrs.App
	Searched  bool
	Problem   string
	Event     string // the pasted event, shown again
	Execution string // the execution whose event was run
	Report    *dryRunReport
}

// maxApps is how many apps a search lists.
const maxApps = 50

// showDryRun shows the dry-run forms, and the apps of a site whose name
// holds q (GET /dry-run?site=&q=).
func (c *Console) showDryRun(w http.ResponseWriter, r *http.Request) {
	v := c.dryRunForm(r)
	if v.Site != "" {
		c.findApps(r, &v)
	}
	c.render(w, r, "dryrun", http.StatusOK, "Dry-run", v)
}

func (c *Console) dryRunForm(r *http.Request) dryRunView {
	v := dryRunView{Sites: c.b.Config().SiteAliases(), Site: r.FormValue("site"), Q: r.FormValue("q"), Kind: r.FormValue("kind")}
	if v.Kind == "" {
		v.Kind = engine.KindUpdated
	}
	return v
}

func (c *Console) findApps(r *http.Request, v *dryRunView) {
	apps, err := c.b.SearchApps(r.Context(), v.Site, strings.TrimSpace(v.Q), maxApps)
	v.Searched = true
	if err != nil {
		v.Problem = err.Error()
		return
	}
	v.Apps = apps
}
