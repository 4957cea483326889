package console

import (
	"context"
	"crypto/subtle"
	"net/http"
	"net/url"
	"strings"

	"github.com/qs-promoter/qs-promoter/daemon"
)

// Security is middleware, not per handler: every route is wrapped in the
// headers and the cross-origin check, every route but the login, the
// static files and the probes in the session check, and every action in
// the operator check (routes.go).

// contentSecurityPolicy allows the console's own files only: no inline
// script or style, no framing (clickjacking), forms posting here only.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// crossOrigin refuses every cross-site POST (by Sec-Fetch-Site, else
// Origin against Host, as Go's CrossOriginProtection does); requests
// without either header (a script, curl) pass, so a script can log in.
func (c *Console) crossOrigin(next http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.metrics.refused.WithLabelValues("cross_origin").Inc()
		c.log.Warn("console: cross-origin request refused", "method", r.Method, "path", r.URL.Path,
			"origin", r.Header.Get("Origin"), "sec_fetch_site", r.Header.Get("Sec-Fetch-Site"))
		http.Error(w, "cross-origin request refused: the console takes actions only from its own pages", http.StatusForbidden)
	}))
	return cop.Handler(next)
}

type userKey struct{}

// currentUser is the logged-in user of a request behind requireSession.
func currentUser(r *http.Request) daemon.ConsoleUser {
	u, _ := r.Context().Value(userKey{}).(daemon.ConsoleUser)
	return u
}

// requireSession lets through requests with a valid session; a page
// request without one is sent to the login (and back after it), an API
// request (/status, /-/reload, an htmx fragment) gets 401.
func (c *Console) requireSession(api bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, ok := c.session.user(r, c.cfg)
		if !ok {
			c.metrics.refused.WithLabelValues("no_session").Inc()
			if api || r.Method != http.MethodGet || r.Header.Get("HX-Request") != "" {
				w.Header().Set("HX-Redirect", "/login")
				http.Error(w, "log in first: POST /login with username and password", http.StatusUnauthorized)
				return
			}
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userKey{}, u)))
	})
}

// operatorOnly refuses viewers: they see everything but change nothing.
func (c *Console) operatorOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if currentUser(r).Role != daemon.RoleOperator {
			c.metrics.refused.WithLabelValues("viewer").Inc()
			http.Error(w, "refused: "+currentUser(r).Name+" is a viewer; reloads, retries, dry-runs and test e-mails need the operator role", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// metricsAuth lets /metrics through with the bearer token, when one is
// configured, or else a session.
func (c *Console) metricsAuth(next http.Handler) http.Handler {
	withSession := c.requireSession(true, next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && c.cfg.MetricsToken != "" {
			if subtle.ConstantTimeCompare([]byte(tok), []byte(c.cfg.MetricsToken)) == 1 {
				next.ServeHTTP(w, r)
				return
			}
			c.metrics.refused.WithLabelValues("bad_token").Inc()
			http.Error(w, "wrong bearer token", http.StatusUnauthorized)
			return
		}
		withSession.ServeHTTP(w, r)
	})
}

// safeNext is a local path to go back to after the login ("/" otherwise):
// never another host.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, `/\`) {
		return "/"
	}
	if u, err := url.Parse(next); err != nil || u.Host != "" || u.Scheme != "" {
		return "/"
	}
	return next
}
