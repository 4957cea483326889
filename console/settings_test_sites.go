package console

import "net/http"

// testSites calls every site, read-only, as `check --connect` does, and
// shows how each answered (POST /settings/test-sites; viewers may too).
func (c *Console) testSites(w http.ResponseWriter, r *http.Request) {
	v := c.settings()
	v.Checks, v.Checked = c.b.TestSites(r.Context()), true
	if r.Header.Get("HX-Request") != "" {
		c.renderPart(w, r, "settings", "checks", v)
		return
	}
	c.render(w, r, "settings", http.StatusOK, "Settings", v)
}
