package console

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/qs-promoter/qs-promoter/store"
)

// auditList is the Audit page's data.
type auditList struct {
	Filter  auditFilter
	Records []store.AuditRecord
	NextURL string
	CSVURL  string
	Problem string
}

// auditFilter is the Audit page's search: every field is optional; since
// and until are days (YYYY-MM-DD, UTC), until inclusive.
type auditFilter struct {
	App, User, Policy, Type, Action, Since, Until, After string
}

func readAuditFilter(r *http.Request) auditFilter {
	q := r.URL.Query()
	return auditFilter{App: strings.TrimSpace(q.Get("app")), User: strings.TrimSpace(q.Get("user")), Policy: strings.TrimSpace(q.Get("policy")),
		Type: q.Get("type"), Action: q.Get("action"), Since: q.Get("since"), Until: q.Get("until"), After: q.Get("after")}
}

// query turns the filter into the store's query.
func (f auditFilter) query() (store.AuditQuery, error) {
	q := store.AuditQuery{AppName: f.App, User: f.User, Policy: f.Policy, Type: f.Type, Action: f.Action}
	var err error
	if q.Since, err = day(f.Since, "since"); err != nil {
		return q, err
	}
	if q.Until, err = day(f.Until, "until"); err != nil {
		return q, err
	}
	if !q.Until.IsZero() {
		q.Until = q.Until.AddDate(0, 0, 1) // the whole day
	}
	if f.After != "" {
		if q.After, err = strconv.ParseInt(f.After, 10, 64); err != nil {
			return q, fmt.Errorf("after: %q is not a record number", f.After)
		}
	}
	return q, nil
}

func day(s, name string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		return t, fmt.Errorf("%s: %q is not a day (YYYY-MM-DD)", name, s)
	}
	return t, nil
}

// values is the filter as a query string, without the page.
func (f auditFilter) values() url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"app": f.App, "user": f.User, "policy": f.Policy, "type": f.Type, "action": f.Action, "since": f.Since, "until": f.Until} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v
}

// listAudit searches the audit records, newest first, filtered and paged
// in the database (GET /audit?app=&user=&policy=&type=&action=&since=&until=).
func (c *Console) listAudit(w http.ResponseWriter, r *http.Request) {
	f := readAuditFilter(r)
	l := auditList{Filter: f, CSVURL: "/audit.csv?" + f.values().Encode()}
	q, err := f.query()
	if err != nil {
		l.Problem = err.Error()
		c.render(w, r, "audit", http.StatusBadRequest, "Audit", l)
		return
	}
	q.Limit = pageSize
	page, err := c.b.AuditRecords(r.Context(), q)
	if err != nil {
		c.fail(w, r, http.StatusInternalServerError, "Audit", err)
		return
	}
	l.Records = page.Records
	if page.Next != 0 {
		v := f.values()
		v.Set("after", strconv.FormatInt(page.Next, 10))
		l.NextURL = "/audit?" + v.Encode()
	}
	c.render(w, r, "audit", http.StatusOK, "Audit", l)
}
