package console

import "net/http"

// routes is the console's route table. Each handler lives in a file of its
// own, named after its page and verb.
func (c *Console) routes() http.Handler {
	mux := http.NewServeMux()
	page := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, c.requireSession(false, h)) }
	action := func(pattern string, h http.HandlerFunc) {
		mux.Handle(pattern, c.requireSession(false, c.operatorOnly(h)))
	}

	// Without a session: the login, the static files, the probes, and
	// /metrics (with its bearer token; else it needs a session too).
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(staticFiles())))
	mux.HandleFunc("GET /login", c.showLogin)
	mux.HandleFunc("POST /login", c.checkLogin)
	mux.HandleFunc("GET /healthz", c.healthz)
	mux.HandleFunc("GET /readyz", c.readyz)
	mux.Handle("GET /metrics", c.metricsAuth(c.b.MetricsHandler()))

	page("POST /logout", c.logout)
	page("GET /{$}", c.showOverview)
	page("GET /overview/running", c.showRunning)
	page("GET /approvals", c.showApprovals)
	page("GET /executions", c.listExecutions)
	page("GET /executions/{id}", c.showExecution)
	page("GET /executions/{id}/event.json", c.downloadEvent)
	action("POST /executions/{id}/retry", c.retryExecution)
	page("GET /policies", c.showPolicies)
	action("POST /policies/reload", c.reloadPolicies)
	page("GET /dry-run", c.showDryRun)
	page("GET /dry-run/apps", c.searchApps)
	action("POST /dry-run", c.runDryRun)
	page("GET /audit", c.listAudit)
	page("GET /audit.csv", c.downloadAudit)
	page("GET /settings", c.showSettings)
	page("POST /settings/test-sites", c.testSites)
	action("POST /settings/test-mail", c.testMail)

	// For scripts: JSON status and a plain-text reload, with a session.
	mux.Handle("GET /status", c.requireSession(true, http.HandlerFunc(c.status)))
	mux.Handle("POST /-/reload", c.requireSession(true, c.operatorOnly(http.HandlerFunc(c.apiReload))))
	mux.Handle("POST /-/retry/{id}", c.requireSession(true, c.operatorOnly(http.HandlerFunc(c.apiRetry))))

	return securityHeaders(c.crossOrigin(mux))
}
