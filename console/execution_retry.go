package console

import (
	"errors"
	"net/http"
)

// retryExecution asks the daemon to retry an execution now (POST
// /executions/{id}/retry). The daemon's retry (Retrier) is being added
// with the retry queue; until then the page says so honestly.
func (c *Console) retryExecution(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	v, err := c.execution(r, id)
	if err != nil {
		c.fail(w, r, statusOf(err), "Execution "+id, err)
		return
	}
	rt, ok := c.b.(Retrier)
	if !ok {
		err = errors.New("retrying from the console is not available in this version: the execution retries by itself while it has attempts left; a failed one runs again at the app's next change")
	} else {
		err = rt.RetryExecution(r.Context(), id)
	}
	outcome := "success"
	v.Notice = "Retry asked for: the execution runs again shortly."
	if err != nil {
		outcome, v.Notice = "failed", "Not retried: "+err.Error()
	}
	c.audit(r, currentUser(r).Name, "retry", outcome, map[string]any{"execution_id": id, "app_id": v.AppID, "site": v.Site, "error": errText(err)})
	status := http.StatusOK
	if err != nil {
		status = http.StatusConflict
	}
	c.render(w, r, "execution", status, "Execution "+v.ID, v)
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
