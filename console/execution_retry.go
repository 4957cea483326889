package console

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/qs-promoter/qs-promoter/store"
)

// retryExecution runs a failed execution again (POST
// /executions/{id}/retry): the same execution, its finished steps not run
// again.
func (c *Console) retryExecution(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	v, err := c.execution(r, id)
	if err != nil {
		c.fail(w, r, statusOf(err), "Execution "+id, err)
		return
	}
	_, err = c.b.RetryExecution(r.Context(), id, currentUser(r).Name)
	outcome := "success"
	v.Notice = "Retry asked for: the execution runs again shortly; its finished steps are not run again."
	if err != nil {
		outcome, v.Notice = "failed", "Not retried: "+err.Error()
	}
	c.audit(r, currentUser(r).Name, "retry", outcome, map[string]any{"execution_id": id, "app_id": v.AppID, "site": v.Site, "error": errText(err)})
	c.render(w, r, "execution", retryStatus(err), "Execution "+v.ID, v)
}

// apiRetry is retryExecution for scripts (POST /-/retry/{id}): a line of
// text, 202 when queued, 404 for an unknown execution, 409 for one that
// did not fail.
func (c *Console) apiRetry(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	e, err := c.b.RetryExecution(r.Context(), id, currentUser(r).Name)
	outcome := "success"
	if err != nil {
		outcome = "failed"
	}
	c.audit(r, currentUser(r).Name, "retry", outcome, map[string]any{"execution_id": id, "error": errText(err)})
	if err != nil {
		http.Error(w, err.Error(), retryStatus(err))
		return
	}
	name := e.AppName
	if name == "" {
		name = e.AppID
	}
	w.WriteHeader(http.StatusAccepted)
	fmt.Fprintf(w, "execution %s (app '%s' on site %s) is queued again; its finished steps are not run again\n", e.ID, name, e.Site)
}

// retryStatus is the HTTP status of a retry's outcome.
func retryStatus(err error) int {
	var nf *store.NotFailedError
	switch {
	case err == nil:
		return http.StatusAccepted
	case errors.Is(err, store.ErrNoExecution):
		return http.StatusNotFound
	case errors.As(err, &nf):
		return http.StatusConflict
	}
	return http.StatusInternalServerError
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
