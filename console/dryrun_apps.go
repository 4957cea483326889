package console

import "net/http"

// searchApps is the app search as you type (GET /dry-run/apps?site=&q=,
// an htmx fragment of the Dry-run page).
func (c *Console) searchApps(w http.ResponseWriter, r *http.Request) {
	v := c.dryRunForm(r)
	if v.Site != "" {
		c.findApps(r, &v)
	}
	c.renderPart(w, r, "dryrun", "apps", v)
}
