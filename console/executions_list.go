package console

import (
	"net/http"
	"net/url"

	"github.com/qs-promoter/qs-promoter/store"
)

// executionList is the Executions page's data.
type executionList struct {
	Filter     executionFilter
	Sites      []string
	Policies   []string
	States     []string
	Executions []store.Execution
	NextURL    string // the next (older) page; "" on the last
	PollURL    string // the first page again, for htmx
	First      bool   // the first page: htmx keeps it fresh
}

type executionFilter struct{ App, Site, Policy, State, After string }

// executionStates are the outcomes and states a filter offers.
var executionStates = []string{"acted", "no_match", "failed", "skipped", "running", "retrying", "interrupted"}

// pageSize is the rows of a list page.
const pageSize = 50

// listExecutions lists executions, newest first, filtered and paged in
// the database (GET /executions?app=&site=&policy=&state=&after=).
func (c *Console) listExecutions(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := executionFilter{App: q.Get("app"), Site: q.Get("site"), Policy: q.Get("policy"), State: q.Get("state"), After: q.Get("after")}
	page, err := c.b.Executions(r.Context(), store.ExecutionQuery{AppName: f.App, Site: f.Site, Policy: f.Policy, State: f.State, After: f.After, Limit: pageSize})
	if err != nil {
		c.fail(w, r, http.StatusInternalServerError, "Executions", err)
		return
	}
	l := executionList{Filter: f, Sites: c.b.Config().SiteAliases(), States: executionStates, Executions: page.Executions, First: f.After == ""}
	for _, p := range c.b.Policies().Policies {
		l.Policies = append(l.Policies, p.Name)
	}
	filter := url.Values{}
	for k, v := range map[string]string{"app": f.App, "site": f.Site, "policy": f.Policy, "state": f.State} {
		if v != "" {
			filter.Set(k, v)
		}
	}
	l.PollURL = "/executions?" + filter.Encode()
	if page.Next != "" {
		filter.Set("after", page.Next)
		l.NextURL = "/executions?" + filter.Encode()
	}
	if r.Header.Get("HX-Request") != "" {
		c.renderPart(w, r, "executions", "rows", l)
		return
	}
	c.render(w, r, "executions", http.StatusOK, "Executions", l)
}
