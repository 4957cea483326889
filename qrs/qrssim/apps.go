package qrssim

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/qs-promoter/qs-promoter/qrs"
)

func (s *Site) listApps(c *call, kind string) {
	s.mu.Lock()
	docs := make([]appDoc, 0, len(s.apps.order))
	for _, a := range s.apps.all() {
		docs = append(docs, s.renderApp(a))
	}
	s.mu.Unlock()
	answerList(c, docs, condenseApp, kind)
}

func (s *Site) getApp(c *call, id string) {
	s.mu.Lock()
	a, ok := s.apps.get(id)
	var d appDoc
	if ok {
		d = s.renderApp(a)
	}
	s.mu.Unlock()
	if !ok {
		c.notFound()
		return
	}
	c.json(http.StatusOK, d)
}

// appPut is the body of PUT /qrs/app/{id}. The writable fields replace the
// stored ones: a body without customProperties or tags clears them, as a
// whole-entity update does, so a client that drops fields loses them here.
type appPut struct {
	ID               string  `json:"id"`
	ModifiedDate     *string `json:"modifiedDate"`
	Name             string  `json:"name"`
	Description      string  `json:"description"`
	CustomProperties []struct {
		ID         string `json:"id"`
		Value      string `json:"value"`
		Definition *struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"definition"`
	} `json:"customProperties"`
	Owner *struct {
		ID string `json:"id"`
	} `json:"owner"`
	Tags []struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"tags"`
	Stream *struct {
		ID string `json:"id"`
	} `json:"stream"`
	Thumbnail    string `json:"thumbnail"`
	DynamicColor string `json:"dynamicColor"`
}

func (s *Site) putApp(c *call, id string) {
	body, err := io.ReadAll(io.LimitReader(c.r.Body, 16<<20))
	if err != nil {
		return
	}
	var in appPut
	if err := json.Unmarshal(body, &in); err != nil {
		c.text(http.StatusBadRequest, "The request body is not a valid App: "+err.Error())
		return
	}
	s.withApp(c, id, func(a *appState) { s.updateApp(c, a, &in) })
}

// updateApp applies a PUT body to a. The lock is held.
func (s *Site) updateApp(c *call, a *appState, in *appPut) {
	if in.ID != "" && normID(in.ID) != a.id {
		c.text(http.StatusBadRequest, "The id in the body differs from the id in the path")
		return
	}
	if in.ModifiedDate == nil || parseTime(*in.ModifiedDate).IsZero() || parseTime(*in.ModifiedDate).Before(a.modified) {
		c.text(http.StatusConflict, "Conflict: the App has been modified since it was read (send the modifiedDate of the version you changed)")
		return
	}
	if strings.TrimSpace(in.Name) == "" {
		c.text(http.StatusBadRequest, "The App needs a name")
		return
	}
	if in.Owner == nil || in.Owner.ID == "" {
		c.text(http.StatusBadRequest, "The App needs an owner")
		return
	}
	if _, ok := s.users.get(normID(in.Owner.ID)); !ok {
		c.text(http.StatusBadRequest, fmt.Sprintf("The owner %s does not exist", in.Owner.ID))
		return
	}
	newStream := a.streamID
	if a.streamID != "" && in.Stream != nil && normID(in.Stream.ID) != a.streamID {
		if _, ok := s.streams.get(normID(in.Stream.ID)); !ok {
			c.text(http.StatusBadRequest, fmt.Sprintf("The stream %s does not exist", in.Stream.ID))
			return
		}
		newStream = normID(in.Stream.ID)
	}
	var tagIDs []string
	for _, t := range in.Tags {
		if _, ok := s.tags.get(normID(t.ID)); !ok {
			c.text(http.StatusBadRequest, fmt.Sprintf("The tag %q (%s) does not exist: create it first (POST /qrs/tag) and refer to it by id", t.Name, t.ID))
			return
		}
		tagIDs = append(tagIDs, normID(t.ID))
	}
	now := s.tick()
	by := s.caller(c)
	account := by.account()
	old := map[string]propState{}
	for _, p := range a.props {
		old[p.id] = p
	}
	var props []propState
	for _, cp := range in.CustomProperties {
		if cp.Definition == nil || cp.Definition.ID == "" {
			c.text(http.StatusBadRequest, "A custom property value needs a definition with an id")
			return
		}
		d, ok := s.defs.get(normID(cp.Definition.ID))
		if !ok {
			c.text(http.StatusBadRequest, fmt.Sprintf("The custom property definition %s does not exist", cp.Definition.ID))
			return
		}
		if !appliesTo(d, "App") {
			c.text(http.StatusBadRequest, fmt.Sprintf("The custom property %s cannot be applied to App", d.name))
			return
		}
		p := propState{id: newID(), defID: d.id, value: cp.Value, created: now, modified: now, modifiedBy: account}
		if prev, ok := old[normID(cp.ID)]; ok && prev.defID == d.id {
			p.id, p.created, p.modified, p.modifiedBy = prev.id, prev.created, prev.modified, prev.modifiedBy
			if prev.value != cp.Value {
				p.modified, p.modifiedBy = now, account
			}
		}
		props = append(props, p)
	}

	changed := []string{"modifiedDate"}
	if a.modifiedBy != account {
		changed = append(changed, "modifiedByUserName")
	}
	note := func(name string, differs bool) {
		if differs {
			changed = append(changed, name)
		}
	}
	note("name", a.name != in.Name)
	note("description", a.description != in.Description)
	note("owner", a.ownerID != normID(in.Owner.ID))
	note("stream", a.streamID != newStream)
	note("customProperties", !sameProps(a.props, props))
	note("tags", !slices.Equal(a.tagIDs, tagIDs))
	note("thumbnail", a.thumbnail != in.Thumbnail)
	note("dynamicColor", a.dynamicColor != in.DynamicColor)

	a.name, a.description, a.ownerID, a.streamID = in.Name, in.Description, normID(in.Owner.ID), newStream
	a.props, a.tagIDs, a.thumbnail, a.dynamicColor = props, tagIDs, in.Thumbnail, in.DynamicColor
	a.modified, a.modifiedBy = now, account
	c.json(http.StatusOK, s.fireUpdate(a, changed))
}

// sameProps compares property values as sets of (definition, value).
func sameProps(a, b []propState) bool {
	key := func(ps []propState) []string {
		var out []string
		for _, p := range ps {
			out = append(out, p.defID+"\x00"+p.value)
		}
		slices.Sort(out)
		return out
	}
	return slices.Equal(key(a), key(b))
}

// withApp runs change on app {id} with the lock held, or answers 404.
func (s *Site) withApp(c *call, id string, change func(a *appState)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.apps.get(id)
	if !ok {
		c.notFound()
		return
	}
	change(a)
}

// touch records that the caller changed a now and returns that time. The
// lock is held.
func (s *Site) touch(c *call, a *appState) time.Time {
	by := s.caller(c)
	now := s.tick()
	a.modified, a.modifiedBy = now, by.account()
	return now
}

// fireUpdate notifies an update of a touching the named properties and
// returns the app as QRS answers it. The lock is held.
func (s *Site) fireUpdate(a *appState, props []string) appDoc {
	d := s.renderApp(a)
	s.fire(change{typ: qrs.ChangeUpdate, objectType: "App", objectID: a.id, props: props,
		created: a.created, modified: a.modified, modifiedBy: a.modifiedBy, doc: d})
	return d
}

func (s *Site) deleteApp(c *call, id string) {
	s.withApp(c, id, func(a *appState) {
		by := s.caller(c)
		now := s.tick()
		s.apps.remove(id)
		s.fire(change{typ: qrs.ChangeDelete, objectType: "App", objectID: id, props: []string{},
			created: a.created, modified: now, modifiedBy: by.account()})
		c.noContent()
	})
}

// newApp stores an app made by the API (copy, upload); fireAdd notifies it.
// The lock is held.
func (s *Site) newApp(c *call, name string, b *blob) *appState {
	by := s.caller(c)
	now := s.tick()
	a := &appState{id: newID(), created: now, modified: now, modifiedBy: by.account(), name: name, ownerID: by.id,
		blob: b, savedInProductVers: "14.129.6"}
	s.apps.put(a.id, a)
	return a
}

func (s *Site) fireAdd(a *appState) appDoc {
	d := s.renderApp(a)
	s.fire(change{typ: qrs.ChangeAdd, objectType: "App", objectID: a.id, props: []string{"modifiedDate"},
		created: a.created, modified: a.modified, modifiedBy: a.modifiedBy, doc: d})
	return d
}

func (s *Site) copyApp(c *call, id string) {
	s.withApp(c, id, func(src *appState) {
		name := src.name
		if n := c.param("name"); n != "" {
			name = n
		}
		a := s.newApp(c, name, src.blob)
		a.description, a.lastReload, a.thumbnail = src.description, src.lastReload, src.thumbnail
		if c.boolParam("includecustomproperties") {
			for _, p := range src.props {
				p.id, p.created, p.modified = newID(), a.created, a.created
				a.props = append(a.props, p)
			}
		}
		c.json(http.StatusCreated, s.fireAdd(a))
	})
}

func (s *Site) publishApp(c *call, id string) {
	s.withApp(c, id, func(a *appState) {
		streamID := normID(c.param("stream"))
		if streamID == "" {
			c.text(http.StatusBadRequest, "Missing parameter: stream (the id of the stream to publish to)")
			return
		}
		if _, ok := s.streams.get(streamID); !ok {
			c.text(http.StatusBadRequest, fmt.Sprintf("The stream %s does not exist", c.param("stream")))
			return
		}
		if a.streamID != "" {
			c.text(http.StatusBadRequest, "The app is already published")
			return
		}
		changed := []string{"modifiedDate", "publishTime", "published", "stream"}
		if n := c.param("name"); n != "" && n != a.name {
			a.name = n
			changed = append(changed, "name")
		}
		a.streamID, a.publishTime = streamID, s.touch(c, a)
		c.json(http.StatusOK, s.fireUpdate(a, changed))
	})
}

// replaceApp gives the target app (?app=) the content of app {id}.
func (s *Site) replaceApp(c *call, id string) {
	s.withApp(c, id, func(src *appState) {
		targetID := normID(c.param("app"))
		if targetID == "" {
			c.text(http.StatusBadRequest, "Missing parameter: app (the id of the app to replace)")
			return
		}
		t, ok := s.apps.get(targetID)
		if !ok {
			c.notFound()
			return
		}
		if t == src {
			c.text(http.StatusBadRequest, "An app cannot replace itself")
			return
		}
		t.blob, t.lastReload = src.blob, src.lastReload
		s.touch(c, t)
		c.json(http.StatusOK, s.fireUpdate(t, []string{"modifiedDate", "fileSize", "lastReloadTime"}))
	})
}

func (s *Site) reloadApp(c *call, id string) {
	s.withApp(c, id, func(a *appState) {
		a.lastReload = s.touch(c, a)
		s.sim.noteReload(a.blob, a.lastReload)
		s.fireUpdate(a, []string{"modifiedDate", "lastReloadTime"})
		c.noContent()
	})
}
