package qrssim

import (
	"time"

	"github.com/qs-promoter/qs-promoter/qrs"
)

// The repository's entities as the simulator stores them. References are
// IDs; render* turns them into the JSON shapes QRS answers with.

type appState struct {
	id                 string
	created, modified  time.Time
	modifiedBy         string
	name, description  string
	ownerID            string
	streamID           string    // "" unpublished
	publishTime        time.Time // zero: never published
	props              []propState
	tagIDs             []string
	blob               *blob
	lastReload         time.Time
	sourceAppID        string
	thumbnail          string
	dynamicColor       string
	savedInProductVers string
}

type propState struct {
	id                string
	defID             string
	value             string
	created, modified time.Time
	modifiedBy        string
}

type streamState struct {
	id                string
	created, modified time.Time
	modifiedBy        string
	name              string
	ownerID           string
	props             []propState
	tagIDs            []string
}

type userState struct {
	id                string
	created, modified time.Time
	modifiedBy        string
	userID, directory string
	name              string
	roles             []string
	attrs             []attrState
	props             []propState
	tagIDs            []string
}

// account is the user as QRS writes it in modifiedByUserName.
func (u *userState) account() string { return u.directory + `\` + u.userID }

type attrState struct {
	id, typ, value, externalID string
	created                    time.Time
}

type tagState struct {
	id                string
	created, modified time.Time
	modifiedBy        string
	name              string
}

type defState struct {
	id                string
	created, modified time.Time
	modifiedBy        string
	name, valueType   string
	choiceValues      []string
	objectTypes       []string
	description       string
}

// table is an insertion-ordered collection (QRS lists in a stable order).
type table[T any] struct {
	byID  map[string]*T
	order []string
}

func newTable[T any]() table[T] { return table[T]{byID: map[string]*T{}} }

func (t *table[T]) get(id string) (*T, bool) { v, ok := t.byID[id]; return v, ok }

func (t *table[T]) put(id string, v *T) {
	if _, ok := t.byID[id]; !ok {
		t.order = append(t.order, id)
	}
	t.byID[id] = v
}

func (t *table[T]) remove(id string) {
	if _, ok := t.byID[id]; !ok {
		return
	}
	delete(t.byID, id)
	for i, o := range t.order {
		if o == id {
			t.order = append(t.order[:i:i], t.order[i+1:]...)
			break
		}
	}
}

func (t *table[T]) all() []*T {
	out := make([]*T, 0, len(t.order))
	for _, id := range t.order {
		out = append(out, t.byID[id])
	}
	return out
}

// Wire shapes. They mirror Qlik's OpenAPI models (with "privileges": null,
// which QRS sends when privileges=true is not asked for) and are defined
// here rather than reusing package qrs so the wire format stays the
// simulator's own, whatever the client's types do.

const zeroGUID = "00000000-0000-0000-0000-000000000000"

type userRef struct {
	ID                         string   `json:"id"`
	UserID                     string   `json:"userId"`
	UserDirectory              string   `json:"userDirectory"`
	UserDirectoryConnectorName string   `json:"userDirectoryConnectorName"`
	Name                       string   `json:"name"`
	Privileges                 []string `json:"privileges"`
}

type streamRef struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	Privileges []string `json:"privileges"`
}

type tagRef struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	Privileges []string `json:"privileges"`
}

type defRef struct {
	ID           string   `json:"id"`
	Name         string   `json:"name"`
	ValueType    string   `json:"valueType"`
	ChoiceValues []string `json:"choiceValues"`
	Privileges   []string `json:"privileges"`
}

type propDoc struct {
	ID                 string `json:"id"`
	CreatedDate        string `json:"createdDate"`
	ModifiedDate       string `json:"modifiedDate"`
	ModifiedByUserName string `json:"modifiedByUserName"`
	Value              string `json:"value"`
	Definition         defRef `json:"definition"`
	SchemaPath         string `json:"schemaPath"`
}

type appDoc struct {
	ID                    string     `json:"id"`
	CreatedDate           string     `json:"createdDate"`
	ModifiedDate          string     `json:"modifiedDate"`
	ModifiedByUserName    string     `json:"modifiedByUserName"`
	CustomProperties      []propDoc  `json:"customProperties"`
	Owner                 userRef    `json:"owner"`
	Name                  string     `json:"name"`
	AppID                 string     `json:"appId"`
	SourceAppID           string     `json:"sourceAppId"`
	TargetAppID           string     `json:"targetAppId"`
	PublishTime           string     `json:"publishTime"`
	Published             bool       `json:"published"`
	Tags                  []tagRef   `json:"tags"`
	Description           string     `json:"description"`
	Stream                *streamRef `json:"stream"`
	FileSize              int64      `json:"fileSize"`
	LastReloadTime        string     `json:"lastReloadTime"`
	Thumbnail             string     `json:"thumbnail"`
	SavedInProductVersion string     `json:"savedInProductVersion"`
	MigrationHash         string     `json:"migrationHash"`
	DynamicColor          string     `json:"dynamicColor"`
	AvailabilityStatus    int        `json:"availabilityStatus"`
	Privileges            []string   `json:"privileges"`
	SchemaPath            string     `json:"schemaPath"`
}

type appCondensedDoc struct {
	ID                    string     `json:"id"`
	Name                  string     `json:"name"`
	AppID                 string     `json:"appId"`
	PublishTime           string     `json:"publishTime"`
	Published             bool       `json:"published"`
	Stream                *streamRef `json:"stream"`
	SavedInProductVersion string     `json:"savedInProductVersion"`
	MigrationHash         string     `json:"migrationHash"`
	AvailabilityStatus    int        `json:"availabilityStatus"`
	Privileges            []string   `json:"privileges"`
}

type streamDoc struct {
	ID                 string    `json:"id"`
	CreatedDate        string    `json:"createdDate"`
	ModifiedDate       string    `json:"modifiedDate"`
	ModifiedByUserName string    `json:"modifiedByUserName"`
	CustomProperties   []propDoc `json:"customProperties"`
	Owner              userRef   `json:"owner"`
	Name               string    `json:"name"`
	Tags               []tagRef  `json:"tags"`
	Privileges         []string  `json:"privileges"`
	SchemaPath         string    `json:"schemaPath"`
}

type attrDoc struct {
	ID                 string `json:"id"`
	CreatedDate        string `json:"createdDate"`
	ModifiedDate       string `json:"modifiedDate"`
	ModifiedByUserName string `json:"modifiedByUserName"`
	AttributeType      string `json:"attributeType"`
	AttributeValue     string `json:"attributeValue"`
	ExternalID         string `json:"externalId"`
	SchemaPath         string `json:"schemaPath"`
}

type userDoc struct {
	ID                         string    `json:"id"`
	CreatedDate                string    `json:"createdDate"`
	ModifiedDate               string    `json:"modifiedDate"`
	ModifiedByUserName         string    `json:"modifiedByUserName"`
	CustomProperties           []propDoc `json:"customProperties"`
	UserID                     string    `json:"userId"`
	UserDirectory              string    `json:"userDirectory"`
	UserDirectoryConnectorName string    `json:"userDirectoryConnectorName"`
	Name                       string    `json:"name"`
	Roles                      []string  `json:"roles"`
	Attributes                 []attrDoc `json:"attributes"`
	Inactive                   bool      `json:"inactive"`
	RemovedExternally          bool      `json:"removedExternally"`
	Blacklisted                bool      `json:"blacklisted"`
	DeleteProhibited           bool      `json:"deleteProhibited"`
	Tags                       []tagRef  `json:"tags"`
	Favorites                  []any     `json:"favorites"`
	Privileges                 []string  `json:"privileges"`
	SchemaPath                 string    `json:"schemaPath"`
}

type userCondensedDoc struct {
	ID            string   `json:"id"`
	UserID        string   `json:"userId"`
	UserDirectory string   `json:"userDirectory"`
	Name          string   `json:"name"`
	Privileges    []string `json:"privileges"`
}

type tagDoc struct {
	ID                   string   `json:"id"`
	CreatedDate          string   `json:"createdDate"`
	ModifiedDate         string   `json:"modifiedDate"`
	ModifiedByUserName   string   `json:"modifiedByUserName"`
	Name                 string   `json:"name"`
	ImpactSecurityAccess bool     `json:"impactSecurityAccess"`
	Privileges           []string `json:"privileges"`
	SchemaPath           string   `json:"schemaPath"`
}

type defDoc struct {
	ID                 string   `json:"id"`
	CreatedDate        string   `json:"createdDate"`
	ModifiedDate       string   `json:"modifiedDate"`
	ModifiedByUserName string   `json:"modifiedByUserName"`
	Name               string   `json:"name"`
	ValueType          string   `json:"valueType"`
	ChoiceValues       []string `json:"choiceValues"`
	ObjectTypes        []string `json:"objectTypes"`
	Description        string   `json:"description"`
	Privileges         []string `json:"privileges"`
	SchemaPath         string   `json:"schemaPath"`
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return qrs.NeverPublished
	}
	return qrs.FormatTime(t)
}

func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// The render functions need the site's lock held.

func (s *Site) renderUserRef(id string) userRef {
	u, ok := s.users.get(id)
	if !ok {
		return userRef{ID: id}
	}
	return userRef{ID: u.id, UserID: u.userID, UserDirectory: u.directory, UserDirectoryConnectorName: u.directory, Name: u.name}
}

func (s *Site) renderProps(ps []propState) []propDoc {
	out := []propDoc{}
	for _, p := range ps {
		d, ok := s.defs.get(p.defID)
		if !ok {
			continue
		}
		out = append(out, propDoc{
			ID: p.id, CreatedDate: fmtTime(p.created), ModifiedDate: fmtTime(p.modified), ModifiedByUserName: p.modifiedBy,
			Value:      p.value,
			Definition: defRef{ID: d.id, Name: d.name, ValueType: d.valueType, ChoiceValues: nonNil(d.choiceValues)},
			SchemaPath: "CustomPropertyValue",
		})
	}
	return out
}

func (s *Site) renderTags(ids []string) []tagRef {
	out := []tagRef{}
	for _, id := range ids {
		if t, ok := s.tags.get(id); ok {
			out = append(out, tagRef{ID: t.id, Name: t.name})
		}
	}
	return out
}

func (s *Site) renderApp(a *appState) appDoc {
	d := appDoc{
		ID: a.id, CreatedDate: fmtTime(a.created), ModifiedDate: fmtTime(a.modified), ModifiedByUserName: a.modifiedBy,
		CustomProperties: s.renderProps(a.props),
		Owner:            s.renderUserRef(a.ownerID),
		Name:             a.name,
		SourceAppID:      zeroGUID,
		TargetAppID:      zeroGUID,
		PublishTime:      fmtTime(a.publishTime),
		Published:        a.streamID != "",
		Tags:             s.renderTags(a.tagIDs),
		Description:      a.description,
		FileSize:         a.blob.id.Size,
		LastReloadTime:   fmtTime(a.lastReload),
		Thumbnail:        a.thumbnail,
		DynamicColor:     a.dynamicColor,
		// Real servers hash the app's structure; any stable 40-hex value will do.
		MigrationHash:         "98d482c3f964dccf69cbfb9a00e0c048ea6eb221",
		SavedInProductVersion: a.savedInProductVers,
		SchemaPath:            "App",
	}
	if a.sourceAppID != "" {
		d.SourceAppID = a.sourceAppID
	}
	if st, ok := s.streams.get(a.streamID); ok {
		d.Stream = &streamRef{ID: st.id, Name: st.name}
	}
	return d
}

func condenseApp(d appDoc) appCondensedDoc {
	return appCondensedDoc{ID: d.ID, Name: d.Name, AppID: d.AppID, PublishTime: d.PublishTime, Published: d.Published,
		Stream: d.Stream, SavedInProductVersion: d.SavedInProductVersion, MigrationHash: d.MigrationHash}
}

func (s *Site) renderStream(st *streamState) streamDoc {
	return streamDoc{
		ID: st.id, CreatedDate: fmtTime(st.created), ModifiedDate: fmtTime(st.modified), ModifiedByUserName: st.modifiedBy,
		CustomProperties: s.renderProps(st.props),
		Owner:            s.renderUserRef(st.ownerID),
		Name:             st.name,
		Tags:             s.renderTags(st.tagIDs),
		SchemaPath:       "Stream",
	}
}

func (s *Site) renderUser(u *userState) userDoc {
	d := userDoc{
		ID: u.id, CreatedDate: fmtTime(u.created), ModifiedDate: fmtTime(u.modified), ModifiedByUserName: u.modifiedBy,
		CustomProperties: s.renderProps(u.props),
		UserID:           u.userID, UserDirectory: u.directory, UserDirectoryConnectorName: u.directory,
		Name:       u.name,
		Roles:      nonNil(u.roles),
		Attributes: []attrDoc{},
		Tags:       s.renderTags(u.tagIDs),
		Favorites:  []any{},
		SchemaPath: "User",
	}
	for _, a := range u.attrs {
		d.Attributes = append(d.Attributes, attrDoc{
			ID: a.id, CreatedDate: fmtTime(a.created), ModifiedDate: fmtTime(a.created), ModifiedByUserName: "INTERNAL\\sa_repository",
			AttributeType: a.typ, AttributeValue: a.value, ExternalID: a.externalID, SchemaPath: "UserAttribute",
		})
	}
	return d
}

func renderTag(t *tagState) tagDoc {
	return tagDoc{ID: t.id, CreatedDate: fmtTime(t.created), ModifiedDate: fmtTime(t.modified), ModifiedByUserName: t.modifiedBy,
		Name: t.name, SchemaPath: "Tag"}
}

func renderDef(d *defState) defDoc {
	return defDoc{ID: d.id, CreatedDate: fmtTime(d.created), ModifiedDate: fmtTime(d.modified), ModifiedByUserName: d.modifiedBy,
		Name: d.name, ValueType: d.valueType, ChoiceValues: nonNil(d.choiceValues), ObjectTypes: nonNil(d.objectTypes),
		Description: d.description, SchemaPath: "CustomPropertyDefinition"}
}
