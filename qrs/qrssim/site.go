package qrssim

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/qs-promoter/qs-promoter/qrs"
)

// Site is one simulated QRS site.
type Site struct {
	sim          *Sim
	alias        string
	hostName     string
	nodeID       string
	notifyCopies int
	log          *slog.Logger
	certDir      string
	port         int
	tlsConfig    *tls.Config
	content      *contentStore
	link         *link // shared by the site's content transfers (Faults.LinkBytesPerSecond)
	started      time.Time

	mu       sync.Mutex
	apps     table[appState]
	streams  table[streamState]
	users    table[userState]
	tags     table[tagState]
	defs     table[defState]
	subs     table[Subscription]
	exports  map[string]*export // by tempcontent GUID
	changes  []changeRecord
	last     time.Time // the last timestamp handed out
	restarts int

	srvMu      sync.Mutex // guards the server across restarts
	srv        *http.Server
	ln         net.Listener // nil while down
	generation int          // counts restarts with downtime: only the last one reopens
	stopped    bool         // the simulator closed

	faults       Faults
	faultSeen    int
	faultFailed  int
	faultSkipped int
	faultAfter   int
	faultRand    *rand.Rand
	tokens       float64 // the throttle's budget
	tokensAt     time.Time
	reqs         []Request

	queue     chan delivery
	delivered atomic.Int64
	served    atomic.Int64
	received  atomic.Int64
}

// export is a prepared download (/tempcontent/…), downloadable once.
type export struct {
	token, appID, guid string
	fileName           string
	user               string // who exported: only they may download
	blob               *blob
	downloaded         bool
}

const repositoryAccount = `INTERNAL\sa_repository`

func newSite(sim *Sim, so SiteOptions, certDir string, now time.Time) *Site {
	s := &Site{
		sim:          sim,
		alias:        so.Alias,
		hostName:     so.HostName,
		nodeID:       uuid.NewSHA1(uuid.NameSpaceURL, []byte("qrssim-node:"+strings.ToLower(so.Alias))).String(),
		notifyCopies: max(so.NotifyCopies, 1),
		log:          sim.log,
		certDir:      certDir,
		started:      now,
		content:      &contentStore{dir: sim.spill},
		apps:         newTable[appState](),
		streams:      newTable[streamState](),
		users:        newTable[userState](),
		tags:         newTable[tagState](),
		defs:         newTable[defState](),
		subs:         newTable[Subscription](),
		exports:      map[string]*export{},
		queue:        make(chan delivery, maxQueue),
	}
	if s.hostName == "" {
		s.hostName = "localhost"
	}
	s.link = &link{rate: s.linkBytesPerSecond}
	// The repository's own account exists on every site.
	s.mu.Lock()
	created := now.Add(-90 * 24 * time.Hour)
	u := &userState{id: newID(), created: created, modified: created, modifiedBy: repositoryAccount,
		userID: "sa_repository", directory: "INTERNAL", name: "sa_repository"}
	s.users.put(u.id, u)
	s.mu.Unlock()
	return s
}

// tick returns the time of a change: now at millisecond precision (QRS's),
// strictly after the previous one so modifiedDate conflicts are never missed.
func (s *Site) tick() time.Time {
	t := time.Now().UTC().Truncate(time.Millisecond)
	if !t.After(s.last) {
		t = s.last.Add(time.Millisecond)
	}
	s.last = t
	return t
}

// normID lower-cases a GUID for lookups.
func normID(id string) string { return strings.ToLower(strings.TrimSpace(id)) }

func (s *Site) userByAccount(dir, id string) *userState {
	for _, u := range s.users.all() {
		if strings.EqualFold(u.directory, dir) && strings.EqualFold(u.userID, id) {
			return u
		}
	}
	return nil
}

func (s *Site) streamByName(name string) *streamState {
	for _, st := range s.streams.all() {
		if strings.EqualFold(st.name, name) {
			return st
		}
	}
	return nil
}

func (s *Site) defByName(name string) *defState {
	for _, d := range s.defs.all() {
		if strings.EqualFold(d.name, name) {
			return d
		}
	}
	return nil
}

func (s *Site) tagByName(name string) *tagState {
	for _, t := range s.tags.all() {
		if strings.EqualFold(t.name, name) {
			return t
		}
	}
	return nil
}

func appliesTo(d *defState, objectType string) bool {
	for _, t := range d.objectTypes {
		if strings.EqualFold(t, objectType) {
			return true
		}
	}
	return false
}

// Load adds a seed's users, definitions, tags, streams and apps. It checks
// everything first: on error the site is unchanged.
func (s *Site) Load(seed *Seed) error {
	_, err := s.load(seed)
	return err
}

// AddApp adds one app (see AppSeed) and returns it as QRS would.
func (s *Site) AddApp(a AppSeed) (qrs.App, error) {
	ids, err := s.load(&Seed{Apps: []AppSeed{a}})
	if err != nil {
		return qrs.App{}, err
	}
	app, _ := s.App(ids[0])
	return app, nil
}

func (s *Site) load(seed *Seed) (appIDs []string, err error) {
	if err := seed.validate(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkSeed(seed); err != nil {
		return nil, err
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	created := now.Add(-30 * 24 * time.Hour)
	by := repositoryAccount
	id := func(given string) string {
		if given != "" {
			return normID(given)
		}
		return newID()
	}
	for _, d := range seed.Definitions {
		ds := &defState{id: id(d.ID), created: created, modified: created, modifiedBy: by, name: d.Name, valueType: "Text",
			choiceValues: append([]string{}, d.ChoiceValues...), description: d.Description}
		for _, ot := range d.ObjectTypes {
			ds.objectTypes = append(ds.objectTypes, canonicalType(ot))
		}
		s.defs.put(ds.id, ds)
	}
	for _, u := range seed.Users {
		us := &userState{id: id(u.ID), created: created, modified: created, modifiedBy: by,
			userID: u.UserID, directory: u.Directory, name: u.Name, roles: append([]string{}, u.Roles...)}
		if us.name == "" {
			us.name = u.UserID
		}
		if u.Email != "" {
			us.attrs = append(us.attrs, attrState{id: newID(), typ: "Email", value: u.Email, externalID: u.Email, created: created})
		}
		s.users.put(us.id, us)
	}
	for _, t := range seed.Tags {
		ts := &tagState{id: newID(), created: created, modified: created, modifiedBy: by, name: t}
		s.tags.put(ts.id, ts)
	}
	for _, st := range seed.Streams {
		ss := &streamState{id: id(st.ID), created: created, modified: created, modifiedBy: by, name: st.Name}
		owner := repositoryAccount
		if st.Owner != "" {
			owner = st.Owner
		}
		dir, uid, _ := splitAccount(owner)
		ss.ownerID = s.userByAccount(dir, uid).id
		ss.props = s.seedProps(st.Properties, created, by)
		s.streams.put(ss.id, ss)
	}
	for _, a := range seed.Apps {
		dir, uid, _ := splitAccount(a.Owner)
		as := &appState{id: id(a.ID), created: created, modified: created, modifiedBy: a.Owner, name: a.Name,
			description: a.Description, ownerID: s.userByAccount(dir, uid).id, savedInProductVers: "14.129.6"}
		size := a.Size
		if size == 0 {
			size = 256 << 10
		}
		as.blob = seededBlob(s.alias+"/"+as.id, size)
		as.lastReload = now.Add(-time.Hour)
		if a.LastReloadTime != "" {
			as.lastReload = parseTime(a.LastReloadTime).UTC()
		}
		if a.Stream != "" {
			as.streamID = s.streamByName(a.Stream).id
			as.publishTime = created.Add(time.Hour)
		}
		// QRS bumps modifiedDate on every publish and reload: a seeded app
		// was last modified by the later of them, never before.
		for _, t := range []time.Time{as.publishTime, as.lastReload} {
			if t.After(as.modified) {
				as.modified = t
			}
		}
		as.props = s.seedProps(a.Properties, created, a.Owner)
		for _, t := range a.Tags {
			as.tagIDs = append(as.tagIDs, s.tagByName(t).id)
		}
		s.sim.noteReload(as.blob, as.lastReload)
		s.apps.put(as.id, as)
		appIDs = append(appIDs, as.id)
	}
	return appIDs, nil
}

// seedProps turns name → values into property values (names checked before).
func (s *Site) seedProps(m map[string][]string, at time.Time, by string) []propState {
	var out []propState
	for _, name := range slices.Sorted(maps.Keys(m)) {
		d := s.defByName(name)
		for _, v := range m[name] {
			out = append(out, propState{id: newID(), defID: d.id, value: v, created: at, modified: at, modifiedBy: by})
		}
	}
	return out
}

// checkSeed checks a seed's names and references against the site and itself.
func (s *Site) checkSeed(seed *Seed) error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("seed: "+format, args...)) }
	ids := map[string]bool{}
	takenID := func(what, id string) {
		id = normID(id)
		if id == "" {
			return
		}
		_, a := s.apps.get(id)
		_, b := s.streams.get(id)
		_, c := s.users.get(id)
		_, d := s.defs.get(id)
		if a || b || c || d || ids[id] {
			bad("%s: id %s is already used on site %q", what, id, s.alias)
		}
		ids[id] = true
	}

	defs := map[string][]string{} // lower name → object types
	for _, d := range s.defs.all() {
		defs[strings.ToLower(d.name)] = d.objectTypes
	}
	for i, d := range seed.Definitions {
		what := fmt.Sprintf("definitions[%d] (%s)", i, d.Name)
		if _, dup := defs[strings.ToLower(d.Name)]; dup {
			bad("%s: a custom property named %q already exists on site %q", what, d.Name, s.alias)
		}
		defs[strings.ToLower(d.Name)] = d.ObjectTypes
		takenID(what, d.ID)
	}
	users := map[string]bool{}
	for _, u := range s.users.all() {
		users[strings.ToLower(u.directory+`\`+u.userID)] = true
	}
	for i, u := range seed.Users {
		acct := u.Directory + `\` + u.UserID
		if users[strings.ToLower(acct)] {
			bad("users[%d]: user %s already exists on site %q", i, acct, s.alias)
		}
		users[strings.ToLower(acct)] = true
		takenID(fmt.Sprintf("users[%d] (%s)", i, acct), u.ID)
	}
	tags := map[string]bool{}
	for _, t := range s.tags.all() {
		tags[strings.ToLower(t.name)] = true
	}
	for i, t := range seed.Tags {
		if tags[strings.ToLower(t)] {
			bad("tags[%d]: tag %q already exists on site %q", i, t, s.alias)
		}
		tags[strings.ToLower(t)] = true
	}
	checkProps := func(what, objectType string, m map[string][]string) {
		for _, name := range slices.Sorted(maps.Keys(m)) {
			types, ok := defs[strings.ToLower(name)]
			if !ok {
				bad("%s: custom property %q is not defined; add it under definitions: with object_types: [%s]", what, name, objectType)
				continue
			}
			if !containsFold(types, objectType) {
				bad("%s: custom property %q does not apply to %s; add %s to its object_types", what, name, objectType, objectType)
			}
		}
	}
	streams := map[string]bool{}
	for _, st := range s.streams.all() {
		streams[strings.ToLower(st.name)] = true
	}
	for i, st := range seed.Streams {
		what := fmt.Sprintf("streams[%d] (%s)", i, st.Name)
		if streams[strings.ToLower(st.Name)] {
			bad("%s: a stream named %q already exists on site %q", what, st.Name, s.alias)
		}
		streams[strings.ToLower(st.Name)] = true
		takenID(what, st.ID)
		if st.Owner != "" && !users[strings.ToLower(st.Owner)] {
			bad("%s: owner %s is not a user; add it under users:", what, st.Owner)
		}
		checkProps(what, "Stream", st.Properties)
	}
	for i, a := range seed.Apps {
		what := fmt.Sprintf("apps[%d] (%s)", i, a.Name)
		takenID(what, a.ID)
		if !users[strings.ToLower(a.Owner)] {
			bad("%s: owner %s is not a user; add it under users:", what, a.Owner)
		}
		if a.Stream != "" && !streams[strings.ToLower(a.Stream)] {
			bad("%s: stream %q does not exist; add it under streams: or leave stream empty for an unpublished app", what, a.Stream)
		}
		for _, t := range a.Tags {
			if !tags[strings.ToLower(t)] {
				bad("%s: tag %q does not exist; add it under tags:", what, t)
			}
		}
		checkProps(what, "App", a.Properties)
	}
	return errors.Join(errs...)
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// toQRS converts a wire document to the client's type.
func toQRS[T any](doc any) T {
	var v T
	b, err := json.Marshal(doc)
	if err == nil {
		err = json.Unmarshal(b, &v)
	}
	if err != nil {
		panic(fmt.Sprintf("qrssim: wire type does not decode into %T: %v", v, err))
	}
	return v
}

// Apps returns every app as GET /qrs/app/full would.
func (s *Site) Apps() []qrs.App {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []qrs.App
	for _, a := range s.apps.all() {
		out = append(out, toQRS[qrs.App](s.renderApp(a)))
	}
	return out
}

// App returns one app as GET /qrs/app/{id} would.
func (s *Site) App(id string) (qrs.App, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.apps.get(normID(id))
	if !ok {
		return qrs.App{}, false
	}
	return toQRS[qrs.App](s.renderApp(a)), true
}

// Content returns the identity of an app's file.
func (s *Site) Content(appID string) (Content, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.apps.get(normID(appID))
	if !ok {
		return Content{}, false
	}
	return a.blob.id, true
}

// UserByAccount finds a user by "DIR\user" (case-insensitive).
func (s *Site) UserByAccount(account string) (qrs.User, bool) {
	dir, id, ok := splitAccount(account)
	if !ok {
		return qrs.User{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userByAccount(dir, id)
	if u == nil {
		return qrs.User{}, false
	}
	return toQRS[qrs.User](s.renderUser(u)), true
}

// StreamByName finds a stream by name (case-insensitive).
func (s *Site) StreamByName(name string) (qrs.Stream, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.streamByName(name)
	if st == nil {
		return qrs.Stream{}, false
	}
	return toQRS[qrs.Stream](s.renderStream(st)), true
}
