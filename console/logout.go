package console

import "net/http"

// logout ends the session in this browser (POST /logout).
func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	c.session.clear(w)
	c.audit(r, currentUser(r).Name, "logout", "success", nil)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
