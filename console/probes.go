package console

import (
	"fmt"
	"net/http"
	"strings"
)

// healthz answers while the process serves (GET /healthz).
func (c *Console) healthz(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") }

// readyz answers 200 when the daemon can do its job, else 503 with what
// keeps it from it (GET /readyz).
func (c *Console) readyz(w http.ResponseWriter, r *http.Request) {
	if problems := c.b.Readiness(r.Context()); len(problems) > 0 {
		http.Error(w, "not ready:\n"+strings.Join(problems, "\n"), http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ready")
}
