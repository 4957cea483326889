package console

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/qs-promoter/qs-promoter/daemon"
	"github.com/qs-promoter/qs-promoter/engine"
)

//go:embed templates static
var assets embed.FS

// views are the page templates, parsed once at start: each view with the
// one layout. html/template escapes everything they print (app names are
// user input).
type views struct{ pages map[string]*template.Template }

func parseViews() (*views, error) {
	entries, err := fs.ReadDir(assets, "templates/views")
	if err != nil {
		return nil, err
	}
	v := &views{pages: map[string]*template.Template{}}
	for _, e := range entries {
		name := strings.TrimSuffix(e.Name(), ".html")
		t, err := template.New(name).Funcs(funcs).ParseFS(assets, "templates/layout.html", "templates/views/"+e.Name())
		if err != nil {
			return nil, fmt.Errorf("console template %s: %w", e.Name(), err)
		}
		v.pages[name] = t
	}
	return v, nil
}

// page is what the layout reads; Data is the view's own.
type page struct {
	Title    string
	Nav      string // the menu entry to highlight
	User     daemon.ConsoleUser
	Operator bool
	Data     any
}

// render writes a whole page: the view inside the layout. It renders into
// a buffer first, so that a template error is a clean 500, not half a page.
func (c *Console) render(w http.ResponseWriter, r *http.Request, view string, status int, title string, data any) {
	u := currentUser(r)
	c.execute(w, view, "layout", status, page{Title: title, Nav: view, User: u, Operator: u.Role == daemon.RoleOperator, Data: data})
}

// renderPart writes one named template of a view (an htmx fragment).
func (c *Console) renderPart(w http.ResponseWriter, r *http.Request, view, part string, data any) {
	u := currentUser(r)
	c.execute(w, view, part, http.StatusOK, page{User: u, Operator: u.Role == daemon.RoleOperator, Data: data})
}

func (c *Console) execute(w http.ResponseWriter, view, name string, status int, p page) {
	t := c.views.pages[view]
	if t == nil {
		http.Error(w, "no view "+view, http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, name, p); err != nil {
		c.log.Error("console: rendering a page failed", "view", view, "err", err)
		http.Error(w, "the page could not be rendered: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

// fail shows an error on a page of its own.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, status int, what string, err error) {
	c.render(w, r, "error", status, what, struct{ What, Err string }{what, err.Error()})
}

var funcs = template.FuncMap{
	"iso": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"utc": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
	"ago": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return durText(time.Since(t)) + " ago"
	},
	"dur":  durText,
	"secs": func(s float64) string { return durText(time.Duration(s * float64(time.Second))) },
	"join": func(sep string, xs []string) string { return strings.Join(xs, sep) },
	"short": func(id string) string {
		if len(id) > 8 {
			return id[:8]
		}
		return id
	},
	"lines":  func(s string) []string { return strings.Split(strings.TrimRight(s, "\n"), "\n") },
	"pretty": prettyJSON,
	"param":  paramText,
	"base":   path.Base,
	"kinds":  func() []string { return engine.EventKinds },
	"split":  strings.Fields,
}

// prettyJSON indents JSON (anything else is returned as it is).
func prettyJSON(raw []byte) string {
	var buf bytes.Buffer
	if json.Indent(&buf, raw, "", "  ") != nil {
		return string(raw)
	}
	return buf.String()
}

// durText is a duration as people read it: 850ms, 12.3s, 4m10s, 3h5m, 2d4h.
func durText(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	case d < time.Hour:
		return d.Round(time.Second).String()
	case d < 48*time.Hour:
		return strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
	}
	days := int(d / (24 * time.Hour))
	return fmt.Sprintf("%dd%dh", days, int((d-time.Duration(days)*24*time.Hour)/time.Hour))
}

// paramText is a step parameter's value as dry-run prints it.
func paramText(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []string:
		return "[" + strings.Join(v, ", ") + "]"
	case []engine.Target:
		parts := make([]string, len(v))
		for i, t := range v {
			parts[i] = t.String()
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
