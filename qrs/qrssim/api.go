package qrssim

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"sort"
	"strconv"
	"strings"

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

// answerList filters, orders and answers documents: condensed, full or
// count. Unordered lists are written document by document as they match, so
// a site of 50,000 apps answers without holding its list's JSON.
func answerList[D any, C any](c *call, docs []D, condense func(D) C, kind string) {
	f, ok := filterParam(c, reflect.TypeFor[D]())
	if !ok {
		return
	}
	encode := func(d D) any {
		if kind == "full" {
			return d
		}
		return condense(d)
	}
	ob := strings.TrimSpace(c.params["orderby"])
	if ob == "" || kind == "count" {
		n := 0
		var w *listWriter
		if kind != "count" {
			w = newListWriter(c)
		}
		for _, d := range docs {
			if f != nil && !f.match(toGeneric(d)) {
				continue
			}
			n++
			if w != nil {
				w.add(encode(d))
			}
		}
		if w == nil {
			c.json(http.StatusOK, map[string]int{"value": n})
			return
		}
		w.end()
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
	w := newListWriter(c)
	for _, it := range items {
		w.add(encode(it.doc))
	}
	w.end()
}

// listWriter answers a JSON list 200 one element at a time.
type listWriter struct {
	w   *bufio.Writer
	n   int
	err error
}

func newListWriter(c *call) *listWriter {
	c.w.Header().Set("Content-Type", "application/json; charset=utf-8")
	c.w.WriteHeader(http.StatusOK)
	w := &listWriter{w: bufio.NewWriterSize(c.w, 32<<10)}
	w.w.WriteByte('[')
	return w
}

func (l *listWriter) add(v any) {
	if l.err != nil {
		return // the client is gone
	}
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // wire types always marshal
	}
	if l.n > 0 {
		l.w.WriteByte(',')
	}
	l.n++
	_, l.err = l.w.Write(b)
}

func (l *listWriter) end() {
	l.w.WriteByte(']')
	l.w.Flush()
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
	account := by.account()
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
