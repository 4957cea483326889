package console

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/qs-promoter/qs-promoter/store"
)

// maxLoginForm bounds a login's body.
const maxLoginForm = 4 << 10

// unknownUserHash is compared against when the user name is unknown, so
// that a wrong name takes as long as a wrong password (cost 10: the
// default of hash-password).
const unknownUserHash = "$2a$10$Fyf6GaJt2.Q02kgIxM81o.hiiEuKXp9A/BubL8bSurLUmJTy2azVy"

// checkLogin takes exactly the form fields username and password (POST
// /login): a right pair sets the session cookie and goes on to the page
// asked for (?next=), a wrong one is answered after FailDelay and counted.
func (c *Console) checkLogin(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.URL.Query().Get("next"))
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginForm)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "unreadable login form: "+err.Error(), http.StatusBadRequest)
		return
	}
	for k := range r.PostForm {
		if k != "username" && k != "password" {
			http.Error(w, fmt.Sprintf("unexpected form field %q: the login takes username and password only", k), http.StatusBadRequest)
			return
		}
	}
	name, password := strings.TrimSpace(r.PostForm.Get("username")), r.PostForm.Get("password")
	u, known := c.cfg.User(name)
	hash := unknownUserHash
	if known {
		hash = u.PasswordHash
	}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) != nil || !known || password == "" {
		c.metrics.logins.WithLabelValues("failure").Inc()
		c.log.Warn("console: login failed", "user", name, "remote", r.RemoteAddr)
		c.audit(r, name, "login", "failed", map[string]any{"remote": r.RemoteAddr, "known_user": known})
		select { // slow, so that guessing is
		case <-time.After(c.opts.FailDelay):
		case <-r.Context().Done():
			return
		}
		c.render(w, r, "login", http.StatusUnauthorized, "Log in", loginForm{Next: next, Username: name, Problem: "Wrong user name or password."})
		return
	}
	c.metrics.logins.WithLabelValues("success").Inc()
	c.session.issue(w, u)
	c.log.Info("console: login", "user", u.Name, "role", u.Role, "remote", r.RemoteAddr)
	c.audit(r, u.Name, "login", "success", map[string]any{"remote": r.RemoteAddr, "role": u.Role})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// audit records an operator's action (failures to record it are logged:
// the action itself has happened).
func (c *Console) audit(r *http.Request, user, action, outcome string, details map[string]any) {
	if len(user) > 100 {
		user = user[:100]
	}
	rec := store.AuditRecord{Time: c.now().UTC(), Type: "console", User: user, Action: action, Outcome: outcome}
	for k, col := range map[string]*string{"execution_id": &rec.ExecutionID, "site": &rec.Site, "app_id": &rec.AppID, "app_name": &rec.AppName} {
		if v, ok := details[k].(string); ok {
			*col = v
		}
	}
	if details != nil {
		details["time"], details["type"], details["user"], details["action"], details["outcome"] = rec.Time, rec.Type, user, action, outcome
		rec.Record = marshal(details)
	}
	if err := c.b.RecordAction(r.Context(), rec); err != nil {
		c.log.Error("console: could not record an operator's action in the audit", "user", user, "action", action, "err", err)
	}
}
