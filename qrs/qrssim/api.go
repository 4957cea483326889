package qrssim

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/qs-promoter/qs-promoter/qrs"
)

func (s *Site) about(c *call) {
	c.json(http.StatusOK, map[string]any{
		"buildVersion":      "14.129.6.0",
		"buildDate":         "11/14/2022 10:09:00 AM",
		"databaseProvider":  "Devart.Data.PostgreSql",
		"nodeType":          1,
		"sharedPersistence": true,
		"requiresBootstrap": false,
		"singleNodeOnly":    false,
		"schemaPath":        "About",
	})
}

// caller returns the calling user, creating it as QRS does on first use.
// The lock is held.
func (s *Site) caller(c *call) *userState {
	dir, id, _ := splitAccount(c.account)
	if u := s.userByAccount(dir, id); u != nil {
		return u
	}
	now := s.tick()
	u := &userState{id: newID(), created: now, modified: now, modifiedBy: repositoryAccount, userID: id, directory: dir, name: id}
	s.users.put(u.id, u)
	s.fire(change{typ: qrs.ChangeAdd, objectType: "User", objectID: u.id, props: []string{"modifiedDate"},
		created: now, modified: now, modifiedBy: repositoryAccount, doc: s.renderUser(u)})
	return u
}

// filterParam parses the filter parameter for an entity type; it answers 400
// itself and returns ok=false on a bad filter.
func filterParam(c *call, entity reflect.Type) (filterNode, bool) {
	text, ok := c.params["filter"]
	if !ok || strings.TrimSpace(text) == "" {
		return nil, true
	}
	f, err := parseFilter(text, entity)
	if err != nil {
		c.text(http.StatusBadRequest, err.Error())
		return nil, false
	}
	return f, true
}

// answerList filters, orders and answers documents: condensed, full or count.
func answerList[D any, C any](c *call, docs []D, condense func(D) C, kind string) {
	f, ok := filterParam(c, reflect.TypeFor[D]())
	if !ok {
		return
	}
	type item struct {
		doc D
		gen any
	}
	var items []item
	for _, d := range docs {
		g := toGeneric(d)
		if f == nil || f.match(g) {
			items = append(items, item{d, g})
		}
	}
	if ob := strings.TrimSpace(c.params["orderby"]); ob != "" && kind != "count" {
		field, dir, _ := strings.Cut(ob, " ")
		desc := strings.EqualFold(strings.TrimSpace(dir), "desc")
		path := strings.Split(field, ".")
		sort.SliceStable(items, func(i, j int) bool {
			a, b := sortKey(items[i].gen, path), sortKey(items[j].gen, path)
			if desc {
				return a > b
			}
			return a < b
		})
	}
	switch kind {
	case "count":
		c.json(http.StatusOK, map[string]int{"value": len(items)})
	case "full":
		out := make([]D, 0, len(items))
		for _, it := range items {
			out = append(out, it.doc)
		}
		c.json(http.StatusOK, out)
	default:
		out := make([]C, 0, len(items))
		for _, it := range items {
			out = append(out, condense(it.doc))
		}
		c.json(http.StatusOK, out)
	}
}

func sortKey(v any, path []string) string {
	key := ""
	matchPath(v, path, func(x any) bool {
		switch x := x.(type) {
		case string:
			key = strings.ToLower(x)
		case float64:
			key = fmt.Sprintf("%020.6f", x)
		case bool:
			key = strconv.FormatBool(x)
		}
		return true
	})
	return key
}

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
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.apps.get(id)
	if !ok {
		c.notFound()
		return
	}
	if in.ID != "" && normID(in.ID) != id {
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
	account := by.directory + `\` + by.userID
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
	d := s.renderApp(a)
	s.fire(change{typ: qrs.ChangeUpdate, objectType: "App", objectID: a.id, props: changed,
		created: a.created, modified: now, modifiedBy: account, doc: d})
	c.json(http.StatusOK, d)
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

func (s *Site) deleteApp(c *call, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.apps.get(id)
	if !ok {
		c.notFound()
		return
	}
	by := s.caller(c)
	now := s.tick()
	s.apps.remove(id)
	s.fire(change{typ: qrs.ChangeDelete, objectType: "App", objectID: id, props: []string{},
		created: a.created, modified: now, modifiedBy: by.directory + `\` + by.userID})
	c.noContent()
}

// newApp stores an app made by the API (copy, upload) and fires Add. The
// lock is held.
func (s *Site) newApp(c *call, name string, b *blob) *appState {
	by := s.caller(c)
	now := s.tick()
	account := by.directory + `\` + by.userID
	a := &appState{id: newID(), created: now, modified: now, modifiedBy: account, name: name, ownerID: by.id,
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
	s.mu.Lock()
	defer s.mu.Unlock()
	src, ok := s.apps.get(id)
	if !ok {
		c.notFound()
		return
	}
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
}

func (s *Site) publishApp(c *call, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.apps.get(id)
	if !ok {
		c.notFound()
		return
	}
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
	by := s.caller(c)
	now := s.tick()
	changed := []string{"modifiedDate", "publishTime", "published", "stream"}
	if n := c.param("name"); n != "" && n != a.name {
		a.name = n
		changed = append(changed, "name")
	}
	a.streamID, a.publishTime = streamID, now
	a.modified, a.modifiedBy = now, by.directory+`\`+by.userID
	d := s.renderApp(a)
	s.fire(change{typ: qrs.ChangeUpdate, objectType: "App", objectID: a.id, props: changed,
		created: a.created, modified: now, modifiedBy: a.modifiedBy, doc: d})
	c.json(http.StatusOK, d)
}

// replaceApp gives the target app (?app=) the content of app {id}.
func (s *Site) replaceApp(c *call, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	src, ok := s.apps.get(id)
	if !ok {
		c.notFound()
		return
	}
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
	by := s.caller(c)
	now := s.tick()
	t.blob, t.lastReload = src.blob, src.lastReload
	t.modified, t.modifiedBy = now, by.directory+`\`+by.userID
	d := s.renderApp(t)
	s.fire(change{typ: qrs.ChangeUpdate, objectType: "App", objectID: t.id,
		props:   []string{"modifiedDate", "fileSize", "lastReloadTime"},
		created: t.created, modified: now, modifiedBy: t.modifiedBy, doc: d})
	c.json(http.StatusOK, d)
}

func (s *Site) reloadApp(c *call, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.apps.get(id)
	if !ok {
		c.notFound()
		return
	}
	by := s.caller(c)
	now := s.tick()
	a.lastReload = now
	a.modified, a.modifiedBy = now, by.directory+`\`+by.userID
	s.sim.noteReload(a.blob, now)
	s.fire(change{typ: qrs.ChangeUpdate, objectType: "App", objectID: a.id, props: []string{"modifiedDate", "lastReloadTime"},
		created: a.created, modified: now, modifiedBy: a.modifiedBy, doc: s.renderApp(a)})
	c.noContent()
}

func (s *Site) exportApp(c *call, id, token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.apps.get(id)
	if !ok {
		c.notFound()
		return
	}
	if token == "" {
		c.text(http.StatusBadRequest, "Missing export token")
		return
	}
	b := a.blob
	if c.boolParam("skipdata") {
		b = b.withoutData()
	}
	e := &export{token: token, appID: a.id, guid: newID(), fileName: a.name + ".qvf", user: strings.ToLower(c.account), blob: b}
	s.exports[e.guid] = e
	c.json(http.StatusCreated, qrs.ExportResponse{
		ExportToken: token, AppID: a.id,
		DownloadPath: "/tempcontent/" + e.guid + "/" + url.PathEscape(e.fileName) + "?serverNodeId=" + s.nodeID,
		SchemaPath:   "AppExportResponse",
	})
}

func (s *Site) cancelExport(c *call, id, token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cancelled := false
	for guid, e := range s.exports {
		if e.token == token && e.appID == id {
			cancelled = cancelled || !e.downloaded
			delete(s.exports, guid)
		}
	}
	c.json(http.StatusOK, qrs.ExportResponse{ExportToken: token, AppID: id, Cancelled: cancelled, SchemaPath: "AppExportResponse"})
}

// download serves an export once, to the user who made it.
func (s *Site) download(c *call, guid string) {
	s.mu.Lock()
	e, ok := s.exports[guid]
	user := repositoryAccount
	if h := c.r.Header.Get("X-Qlik-User"); h != "" {
		user, _ = parseQlikUser(h)
	}
	switch {
	case !ok || e.downloaded:
		s.mu.Unlock()
		c.notFound()
		return
	case e.user != strings.ToLower(user):
		s.mu.Unlock()
		c.text(http.StatusForbidden, "Forbidden")
		return
	}
	e.downloaded = true
	delete(s.exports, guid)
	s.mu.Unlock()

	rc, err := e.blob.open()
	if err != nil {
		c.text(http.StatusInternalServerError, err.Error())
		return
	}
	defer rc.Close()
	h := c.w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", strconv.FormatInt(e.blob.id.Size, 10))
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": e.fileName}))
	c.w.WriteHeader(http.StatusOK)
	r := &throttledReader{ctx: c.r.Context(), r: rc, bps: s.bytesPerSecond}
	io.CopyBuffer(c.w, countingReader{r: r, add: func(n int64) { s.served.Add(n) }}, make([]byte, 32<<10))
}

// upload creates an app from a .qvf body (POST /qrs/app/upload).
func (s *Site) upload(c *call) {
	name := c.param("name")
	if name == "" {
		c.text(http.StatusBadRequest, "Missing parameter: name (the name of the new app)")
		return
	}
	mt, _, _ := mime.ParseMediaType(c.r.Header.Get("Content-Type"))
	if !strings.EqualFold(mt, "application/vnd.qlik.sense.app") {
		c.text(http.StatusUnsupportedMediaType, "Unsupported Media Type: send the .qvf as application/vnd.qlik.sense.app")
		return
	}
	body := &throttledReader{ctx: c.r.Context(), r: c.r.Body, bps: s.bytesPerSecond}
	b, err := s.content.receive(countingReader{r: body, add: func(n int64) { s.received.Add(n) }})
	if err != nil {
		if c.r.Context().Err() == nil {
			c.text(http.StatusBadRequest, "The upload failed: "+err.Error())
		}
		return
	}
	if b.id.Size == 0 {
		c.text(http.StatusBadRequest, "The uploaded file is empty")
		return
	}
	// keepdata defaults to false in QRS: without it the app arrives without data.
	if !c.boolParam("keepdata") {
		b = b.withoutData()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.newApp(c, name, b)
	a.lastReload = s.sim.reloadTimeOf(b)
	c.json(http.StatusCreated, s.fireAdd(a))
}

func (s *Site) list(c *call, res, kind string) {
	s.mu.Lock()
	switch res {
	case "stream":
		docs := make([]streamDoc, 0, len(s.streams.order))
		for _, st := range s.streams.all() {
			docs = append(docs, s.renderStream(st))
		}
		s.mu.Unlock()
		answerList(c, docs, func(d streamDoc) streamRef { return streamRef{ID: d.ID, Name: d.Name} }, kind)
	case "user":
		docs := make([]userDoc, 0, len(s.users.order))
		for _, u := range s.users.all() {
			docs = append(docs, s.renderUser(u))
		}
		s.mu.Unlock()
		answerList(c, docs, func(d userDoc) userCondensedDoc {
			return userCondensedDoc{ID: d.ID, UserID: d.UserID, UserDirectory: d.UserDirectory, Name: d.Name}
		}, kind)
	case "tag":
		docs := make([]tagDoc, 0, len(s.tags.order))
		for _, t := range s.tags.all() {
			docs = append(docs, renderTag(t))
		}
		s.mu.Unlock()
		answerList(c, docs, func(d tagDoc) tagRef { return tagRef{ID: d.ID, Name: d.Name} }, kind)
	default:
		docs := make([]defDoc, 0, len(s.defs.order))
		for _, d := range s.defs.all() {
			docs = append(docs, renderDef(d))
		}
		s.mu.Unlock()
		answerList(c, docs, func(d defDoc) defRef {
			return defRef{ID: d.ID, Name: d.Name, ValueType: d.ValueType, ChoiceValues: d.ChoiceValues}
		}, kind)
	}
}

func (s *Site) get(c *call, res, id string) {
	s.mu.Lock()
	var doc any
	switch res {
	case "stream":
		if st, ok := s.streams.get(id); ok {
			doc = s.renderStream(st)
		}
	case "user":
		if u, ok := s.users.get(id); ok {
			doc = s.renderUser(u)
		}
	case "tag":
		if t, ok := s.tags.get(id); ok {
			doc = renderTag(t)
		}
	default:
		if d, ok := s.defs.get(id); ok {
			doc = renderDef(d)
		}
	}
	s.mu.Unlock()
	if doc == nil {
		c.notFound()
		return
	}
	c.json(http.StatusOK, doc)
}

// create answers POST /qrs/tag and POST /qrs/custompropertydefinition.
func (s *Site) create(c *call, res string) {
	var in struct {
		Name         string   `json:"name"`
		ValueType    string   `json:"valueType"`
		ChoiceValues []string `json:"choiceValues"`
		ObjectTypes  []string `json:"objectTypes"`
		Description  string   `json:"description"`
	}
	if err := json.NewDecoder(io.LimitReader(c.r.Body, 1<<20)).Decode(&in); err != nil {
		c.text(http.StatusBadRequest, "The request body is not valid JSON: "+err.Error())
		return
	}
	if strings.TrimSpace(in.Name) == "" {
		c.text(http.StatusBadRequest, "A name is required")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	by := s.caller(c)
	account := by.directory + `\` + by.userID
	if res == "tag" {
		if s.tagByName(in.Name) != nil {
			c.text(http.StatusConflict, fmt.Sprintf("A tag named %q already exists", in.Name))
			return
		}
		now := s.tick()
		t := &tagState{id: newID(), created: now, modified: now, modifiedBy: account, name: in.Name}
		s.tags.put(t.id, t)
		d := renderTag(t)
		s.fire(change{typ: qrs.ChangeAdd, objectType: "Tag", objectID: t.id, props: []string{"modifiedDate"},
			created: now, modified: now, modifiedBy: account, doc: d})
		c.json(http.StatusCreated, d)
		return
	}
	if s.defByName(in.Name) != nil {
		c.text(http.StatusConflict, fmt.Sprintf("A custom property named %q already exists", in.Name))
		return
	}
	for _, ot := range in.ObjectTypes {
		if !knownObjectType(ot) {
			c.text(http.StatusBadRequest, fmt.Sprintf("Unknown object type %q", ot))
			return
		}
	}
	now := s.tick()
	d := &defState{id: newID(), created: now, modified: now, modifiedBy: account, name: in.Name, valueType: in.ValueType,
		choiceValues: in.ChoiceValues, description: in.Description}
	if d.valueType == "" {
		d.valueType = "Text"
	}
	for _, ot := range in.ObjectTypes {
		d.objectTypes = append(d.objectTypes, canonicalType(ot))
	}
	s.defs.put(d.id, d)
	doc := renderDef(d)
	s.fire(change{typ: qrs.ChangeAdd, objectType: "CustomPropertyDefinition", objectID: d.id, props: []string{"modifiedDate"},
		created: now, modified: now, modifiedBy: account, doc: doc})
	c.json(http.StatusCreated, doc)
}

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
