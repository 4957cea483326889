package console

import (
	"net/http"
	"net/mail"
	"strings"
)

// testMail sends a test e-mail with the smtp: settings, as `mailtest`
// does, and shows how it went (POST /settings/test-mail, field to).
func (c *Console) testMail(w http.ResponseWriter, r *http.Request) {
	v := c.settings()
	v.MailTo = strings.TrimSpace(r.FormValue("to"))
	status := http.StatusOK
	if _, err := mail.ParseAddress(v.MailTo); err != nil {
		v.MailErr, status = "give the address to send the test message to ("+err.Error()+")", http.StatusBadRequest
	} else if server, err := c.b.SendTestMail(r.Context(), v.MailTo, currentUser(r).Name); err != nil {
		v.MailErr = err.Error()
		status = http.StatusBadGateway
		c.audit(r, currentUser(r).Name, "test-mail", "failed", map[string]any{"to": v.MailTo, "error": err.Error()})
	} else {
		v.MailSent = "Sent a test message to " + v.MailTo + " through " + server + "."
		c.audit(r, currentUser(r).Name, "test-mail", "success", map[string]any{"to": v.MailTo, "server": server})
	}
	if r.Header.Get("HX-Request") != "" {
		c.renderPart(w, r, "settings", "mail", v)
		return
	}
	c.render(w, r, "settings", status, "Settings", v)
}
