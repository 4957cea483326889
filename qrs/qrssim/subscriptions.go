package qrssim

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/google/uuid"
)

// subscribe answers POST /qrs/notification: the body is the callback URL as
// a JSON string.
func (s *Site) subscribe(c *call) {
	body, err := io.ReadAll(io.LimitReader(c.r.Body, 1<<16))
	if err != nil {
		return
	}
	var u string
	if err := json.Unmarshal(body, &u); err != nil {
		c.text(http.StatusBadRequest, `The body must be the callback URL as a JSON string, e.g. "http://host:5000/notify"`)
		return
	}
	if pu, err := url.Parse(u); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
		c.text(http.StatusBadRequest, fmt.Sprintf("The callback %q is not an http(s) URL", u))
		return
	}
	name := c.param("name")
	entity, ok := entityTypes[strings.ToLower(name)]
	if !ok {
		c.text(http.StatusBadRequest, fmt.Sprintf("Missing or unknown parameter name=%q (the entity type, e.g. App)", name))
		return
	}
	ct, ok := parseChangeType(c.param("changetype"))
	if !ok {
		c.text(http.StatusBadRequest, fmt.Sprintf("Unknown changetype %q (Add, Update, Delete or 1, 2, 3)", c.param("changetype")))
		return
	}
	f, ok := filterParam(c, entity)
	if !ok {
		return
	}
	objectID := normID(c.param("id"))
	if objectID != "" {
		if _, err := uuid.Parse(objectID); err != nil {
			c.text(http.StatusBadRequest, fmt.Sprintf("The id %q is not a GUID", c.param("id")))
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sub := &Subscription{Handle: newID(), Name: canonicalType(name), ChangeType: ct, PropertyName: c.param("propertyname"),
		Filter: c.param("filter"), ObjectID: objectID, URL: u, Created: s.tick(), filter: f}
	s.subs.put(sub.Handle, sub)
	c.json(http.StatusCreated, map[string]string{"value": sub.Handle})
}

func (s *Site) unsubscribe(c *call) {
	handle := normID(c.param("handle"))
	if handle == "" {
		c.text(http.StatusBadRequest, "Missing parameter: handle")
		return
	}
	s.mu.Lock()
	s.subs.remove(handle)
	s.mu.Unlock()
	c.noContent()
}

// changesSince answers GET /qrs/notification/changes?since=…&types=App,….
func (s *Site) changesSince(c *call) {
	since := parseTime(c.param("since"))
	if since.IsZero() {
		c.text(http.StatusBadRequest, "Missing or invalid parameter: since (an ISO 8601 time like 2026-11-27T09:30:05.118Z)")
		return
	}
	var types []string
	for _, t := range strings.Split(c.param("types"), ",") {
		if t = strings.TrimSpace(t); t != "" {
			types = append(types, t)
		}
	}
	s.mu.Lock()
	out := []changeRecord{}
	for _, r := range s.changes {
		if r.at.After(since) && (len(types) == 0 || containsFold(types, r.Type)) {
			out = append(out, r)
		}
	}
	s.mu.Unlock()
	c.json(http.StatusOK, out)
}
