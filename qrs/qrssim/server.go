package qrssim

import (
	"bufio"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The texts QRS answers with.
const (
	xsrfText          = "XSRF prevention check failed. Possible XSRF discovered."
	missingParamsText = "Missing parameter value(s)"
)

// call is one request being handled.
type call struct {
	w       http.ResponseWriter
	r       *http.Request
	params  map[string]string // query parameters, names lower-cased
	account string            // DIR\user from X-Qlik-User
	segs    []string          // path segments as sent (decoded)
	lsegs   []string          // the same, lower-cased, for routing
}

func (c *call) param(name string) string { return c.params[name] }

func (c *call) boolParam(name string) bool { return strings.EqualFold(c.params[name], "true") }

func (c *call) text(status int, text string) {
	c.w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	c.w.WriteHeader(status)
	c.w.Write([]byte(text))
}

func (c *call) json(status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		c.text(http.StatusInternalServerError, err.Error())
		return
	}
	c.w.Header().Set("Content-Type", "application/json; charset=utf-8")
	c.w.WriteHeader(status)
	c.w.Write(b)
}

func (c *call) notFound() { c.text(http.StatusNotFound, "Not Found") }

func (c *call) noContent() { c.w.WriteHeader(http.StatusNoContent) }

// ServeHTTP answers one request: request log, faults, the query and xrfkey
// checks QRS makes, then the endpoint.
func (s *Site) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.sim.enter() {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	defer s.sim.handlers.Done()
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w}
	if strings.HasPrefix(strings.ToLower(r.URL.Path), "/sim/") {
		s.handle(rec, r, true)
		return
	}
	defer func() {
		d := time.Since(start)
		s.logRequest(Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Status: rec.status,
			User: r.Header.Get("X-Qlik-User"), Time: start, Duration: d})
		s.log.Debug("qrssim: request", "site", s.alias, "method", r.Method, "path", r.URL.Path,
			"status", rec.status, "duration", d.Round(time.Microsecond))
	}()
	f := s.decide(r.Method, r.URL.Path)
	if !sleep(r.Context(), f.latency) {
		return
	}
	if !f.fail {
		s.handle(rec, r, false)
		return
	}
	if f.after {
		// The work is done, its answer lost: the caller sees only the failure.
		s.handle(&discardWriter{header: http.Header{}}, r, false)
	}
	if f.drop {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
	}
	if f.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((f.retryAfter+time.Second-1)/time.Second)))
	}
	http.Error(rec, http.StatusText(f.status), f.status)
}

// handle checks the query and the xrfkey as QRS does and routes the request.
func (s *Site) handle(w http.ResponseWriter, r *http.Request, control bool) {
	c := &call{w: w, r: r, params: map[string]string{}}
	// A raw & inside a value leaves a parameter without '=': QRS refuses it.
	for _, part := range strings.Split(r.URL.RawQuery, "&") {
		if part != "" && !strings.Contains(part, "=") {
			c.text(http.StatusBadRequest, missingParamsText)
			return
		}
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		c.text(http.StatusBadRequest, "Bad Request: "+err.Error())
		return
	}
	for k, v := range q {
		if lk := strings.ToLower(k); len(v) > 0 {
			if _, dup := c.params[lk]; !dup {
				c.params[lk] = v[0]
			}
		}
	}
	c.segs = strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	c.lsegs = make([]string, len(c.segs))
	for i, seg := range c.segs {
		c.lsegs[i] = strings.ToLower(seg)
	}

	if control {
		s.routeControl(c)
		return
	}
	tempContent := c.lsegs[0] == "tempcontent"
	if !xrfOK(c, tempContent) {
		c.text(http.StatusForbidden, xsrfText)
		return
	}
	c.account = repositoryAccount
	if h := r.Header.Get("X-Qlik-User"); h != "" {
		acct, ok := parseQlikUser(h)
		if !ok {
			c.text(http.StatusBadRequest, "Invalid X-Qlik-User header: expected UserDirectory=<directory>;UserId=<user>")
			return
		}
		c.account = acct
	}
	s.route(c)
}

// discardWriter takes an answer nobody will see (a fault after the work).
type discardWriter struct{ header http.Header }

func (d *discardWriter) Header() http.Header         { return d.header }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(int)             {}

// xrfOK checks the xrfkey: the query parameter and the X-Qlik-Xrfkey header,
// equal, 16 characters. Downloads from /tempcontent are accepted with the
// header alone, as real servers do.
func xrfOK(c *call, download bool) bool {
	header := c.r.Header.Get("X-Qlik-Xrfkey")
	key, inQuery := c.params["xrfkey"]
	if download && !inQuery {
		return true
	}
	return inQuery && key == header && len(key) == 16 && isAlnum(key)
}

func isAlnum(s string) bool {
	for _, r := range s {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z') {
			return false
		}
	}
	return true
}

// parseQlikUser reads "UserDirectory=X; UserId=y" into X\y.
func parseQlikUser(h string) (string, bool) {
	var dir, id string
	for _, part := range strings.Split(h, ";") {
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			continue
		}
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "userdirectory":
			dir = strings.TrimSpace(v)
		case "userid":
			id = strings.TrimSpace(v)
		}
	}
	ok := dir != "" && id != "" && !strings.Contains(dir+id, `\`)
	return dir + `\` + id, ok
}

// statusRecorder remembers the status for the request log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(r.ResponseWriter).Hijack()
}

// route dispatches a QRS request. Paths are matched case-insensitively.
func (s *Site) route(c *call) {
	p := c.lsegs
	m := c.r.Method
	if p[0] == "tempcontent" && len(p) == 3 && m == http.MethodGet {
		s.download(c, normID(p[1]))
		return
	}
	if p[0] != "qrs" || len(p) < 2 {
		c.notFound()
		return
	}
	res, rest := p[1], p[2:]
	is := func(method string, n int) bool { return m == method && len(rest) == n }
	switch res {
	case "about":
		if is(http.MethodGet, 0) {
			s.about(c)
			return
		}
	case "app":
		switch {
		case len(rest) == 0 && m == http.MethodGet:
			s.listApps(c, "condensed")
			return
		case len(rest) == 1 && (rest[0] == "full" || rest[0] == "count") && m == http.MethodGet:
			s.listApps(c, rest[0])
			return
		case len(rest) == 1 && rest[0] == "upload":
			if m == http.MethodPost {
				s.upload(c)
				return
			}
		case len(rest) == 1:
			id := normID(rest[0])
			switch m {
			case http.MethodGet:
				s.getApp(c, id)
				return
			case http.MethodPut:
				s.putApp(c, id)
				return
			case http.MethodDelete:
				s.deleteApp(c, id)
				return
			}
		case len(rest) == 2:
			id := normID(rest[0])
			switch {
			case rest[1] == "copy" && m == http.MethodPost:
				s.copyApp(c, id)
				return
			case rest[1] == "publish" && m == http.MethodPut:
				s.publishApp(c, id)
				return
			case rest[1] == "replace" && m == http.MethodPut:
				s.replaceApp(c, id)
				return
			case rest[1] == "reload" && m == http.MethodPost:
				s.reloadApp(c, id)
				return
			}
		case len(rest) == 3 && rest[1] == "export":
			id, token := normID(rest[0]), normID(rest[2])
			switch m {
			case http.MethodPost:
				s.exportApp(c, id, token)
				return
			case http.MethodDelete:
				s.cancelExport(c, id, token)
				return
			}
		}
	case "stream", "user", "tag", "custompropertydefinition":
		switch {
		case len(rest) == 0 && m == http.MethodGet:
			s.list(c, res, "condensed")
			return
		case len(rest) == 0 && m == http.MethodPost && (res == "tag" || res == "custompropertydefinition"):
			s.create(c, res)
			return
		case len(rest) == 1 && (rest[0] == "full" || rest[0] == "count") && m == http.MethodGet:
			s.list(c, res, rest[0])
			return
		case len(rest) == 1 && m == http.MethodGet:
			s.get(c, res, normID(rest[0]))
			return
		}
	case "notification":
		switch {
		case is(http.MethodPost, 0):
			s.subscribe(c)
			return
		case is(http.MethodDelete, 0):
			s.unsubscribe(c)
			return
		case is(http.MethodGet, 1) && rest[0] == "changes":
			s.changesSince(c)
			return
		}
	}
	if s.knownPath(res) {
		c.text(http.StatusMethodNotAllowed, "Method Not Allowed")
		return
	}
	c.notFound()
}

func (s *Site) knownPath(res string) bool {
	return slices.Contains([]string{"about", "app", "stream", "user", "tag", "custompropertydefinition", "notification"}, res)
}

// routeControl answers the simulator's own endpoints (not QRS's).
func (s *Site) routeControl(c *call) {
	if len(c.lsegs) == 2 && c.lsegs[1] == "restart" && c.r.Method == http.MethodPost {
		var downtime time.Duration
		if d := c.param("downtime"); d != "" {
			var err error
			if downtime, err = time.ParseDuration(d); err != nil || downtime < 0 {
				c.text(http.StatusBadRequest, "downtime: want a duration like 2s")
				return
			}
		}
		// The port closes now; this answer still goes out on the connection
		// it came in on, which closes after it.
		s.restart(downtime, true)
		c.noContent()
		return
	}
	c.notFound()
}
