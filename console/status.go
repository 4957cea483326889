package console

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// status is the daemon's status as JSON (GET /status), for scripts.
func (c *Console) status(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(c.b.StatusContext(r.Context()))
}

// apiReload reloads the policies and answers in plain text (POST
// /-/reload), for scripts; the Policies page's button does the same.
func (c *Console) apiReload(w http.ResponseWriter, r *http.Request) {
	if err := c.reload(r); err != nil {
		http.Error(w, "reload failed; the previous policies stay in force:\n"+err.Error(), http.StatusInternalServerError)
		return
	}
	rs := c.b.Policies()
	fmt.Fprintf(w, "policies reloaded: revision %s, %d policies in %d files\n", rs.Revision, len(rs.Policies), len(rs.Files))
}

// reload reloads the policies and records who did it and how it went.
func (c *Console) reload(r *http.Request) error {
	err := c.b.Reload()
	outcome, details := "success", map[string]any{"revision": c.b.Policies().Revision}
	if err != nil {
		outcome, details["error"] = "failed", err.Error()
	}
	c.audit(r, currentUser(r).Name, "reload", outcome, details)
	return err
}

func marshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(map[string]string{"error": err.Error()})
	}
	return b
}
