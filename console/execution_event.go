package console

import (
	"net/http"
)

// downloadEvent serves an execution's recorded event, as `qs-promoter
// dry-run --event` reads it (GET /executions/{id}/event.json).
func (c *Console) downloadEvent(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	e, err := c.b.Execution(r.Context(), id)
	switch {
	case err != nil:
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	case e == nil:
		http.Error(w, errNotFound.Error(), http.StatusNotFound)
		return
	case len(e.Event) == 0:
		http.Error(w, "this execution recorded no event (it was skipped before the facts were read)", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", `attachment; filename="event-`+safeFileName(id)+`.json"`)
	_, _ = w.Write([]byte(prettyJSON(e.Event) + "\n"))
}

// safeFileName keeps letters, digits, '-', '.' and '_'.
func safeFileName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			b[i] = '_'
		}
	}
	return string(b)
}
