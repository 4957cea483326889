package console

import (
	"net/http"
	"time"

	"github.com/qs-promoter/qs-promoter/audit"
)

// downloadAudit streams the audit records the search selects as CSV,
// oldest first, a page at a time from the database: memory stays flat
// however many there are (GET /audit.csv?…, the Audit page's filters).
func (c *Console) downloadAudit(w http.ResponseWriter, r *http.Request) {
	q, err := readAuditFilter(r).query()
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	start := time.Now()
	q.After, q.Oldest, q.Limit = 0, true, 1000
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="qs-promoter-audit-`+c.now().UTC().Format("20060102-150405")+`.csv"`)
	n, err := audit.Write(w, audit.CSV, c.b.AllAuditRecords(r.Context(), q))
	if err != nil {
		// The header is sent: the file ends with the error, and the log says so.
		c.log.Error("console: the audit download stopped", "records", n, "err", err)
	}
	c.log.Info("console: audit downloaded", "user", currentUser(r).Name, "records", n, "took", time.Since(start).Round(time.Millisecond))
}
