package console

import "net/http"

// loginForm is the login page's data.
type loginForm struct {
	Next, Username, Problem string
}

// showLogin shows the login form (GET /login).
func (c *Console) showLogin(w http.ResponseWriter, r *http.Request) {
	if _, ok := c.session.user(r, c.cfg); ok {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	c.render(w, r, "login", http.StatusOK, "Log in", loginForm{Next: safeNext(r.URL.Query().Get("next"))})
}
