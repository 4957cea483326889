// Package qrs is a client for the Qlik Sense Repository Service (QRS) API,
// and (in qrs/qrssim) a simulator of it for tests and the demo.
package qrs

import (
	"encoding/json"
	"strings"
	"time"
)

// NeverPublished is the publishTime QRS reports for an app that was never published.
const NeverPublished = "1753-01-01T00:00:00.000Z"

// ChangeType is QRS's ChangeType enum.
type ChangeType int

// The ChangeType values.
const (
	ChangeUndefined ChangeType = 0
	ChangeAdd       ChangeType = 1
	ChangeUpdate    ChangeType = 2
	ChangeDelete    ChangeType = 3
)

// String returns the name QRS gives the change type ("Add", "Update", …).
func (c ChangeType) String() string {
	switch c {
	case ChangeAdd:
		return "Add"
	case ChangeUpdate:
		return "Update"
	case ChangeDelete:
		return "Delete"
	}
	return "Undefined"
}

// ChangeInfo is one ExternalChangeInfo element of a notification callback.
type ChangeInfo struct {
	ChangeType          ChangeType `json:"changeType"`
	ObjectType          string     `json:"objectType"`
	ObjectID            string     `json:"objectID"`
	ChangedProperties   []string   `json:"changedProperties"`
	EngineID            string     `json:"engineID"`
	EngineType          string     `json:"engineType"`
	OriginatorNodeID    string     `json:"originatorNodeID"`
	OriginatorHostName  string     `json:"originatorHostName"`
	OriginatorContextID *string    `json:"originatorContextID"`
	CreatedDate         string     `json:"createdDate"`
	ModifiedDate        string     `json:"modifiedDate"`
	SchemaPath          string     `json:"schemaPath"`
}

// About is the answer of GET /qrs/about.
type About struct {
	BuildVersion      string `json:"buildVersion"`
	BuildDate         string `json:"buildDate"`
	DatabaseProvider  string `json:"databaseProvider"`
	NodeType          int    `json:"nodeType"`
	SharedPersistence bool   `json:"sharedPersistence"`
	RequiresBootstrap bool   `json:"requiresBootstrap"`
	SchemaPath        string `json:"schemaPath"`
}

// UserCondensed is a reference to a user inside another entity.
type UserCondensed struct {
	ID            string `json:"id"`
	UserID        string `json:"userId,omitempty"`
	UserDirectory string `json:"userDirectory,omitempty"`
	Name          string `json:"name,omitempty"`
}

// StreamCondensed is a reference to a stream inside an app.
type StreamCondensed struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

// TagCondensed is a reference to a tag inside another entity.
type TagCondensed struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

// CustomPropertyDefinitionCondensed is the definition reference inside a value.
type CustomPropertyDefinitionCondensed struct {
	ID           string   `json:"id"`
	Name         string   `json:"name,omitempty"`
	ValueType    string   `json:"valueType,omitempty"`
	ChoiceValues []string `json:"choiceValues,omitempty"`
}

// CustomPropertyValue is one value of a custom property on an app, stream or
// user. A property with several values appears as several entries sharing a
// definition.
type CustomPropertyValue struct {
	ID           string                            `json:"id,omitempty"`
	CreatedDate  string                            `json:"createdDate,omitempty"`
	ModifiedDate string                            `json:"modifiedDate,omitempty"`
	Value        string                            `json:"value"`
	Definition   CustomPropertyDefinitionCondensed `json:"definition"`
	SchemaPath   string                            `json:"schemaPath,omitempty"`
	// Who set this value (DIR\user): for an approval, the approver,
	// whoever changed the app after.
	ModifiedByUserName string `json:"modifiedByUserName,omitempty"`
}

// CustomPropertyDefinition is a custom property as defined in the QMC.
type CustomPropertyDefinition struct {
	ID                 string   `json:"id,omitempty"`
	CreatedDate        string   `json:"createdDate,omitempty"`
	ModifiedDate       string   `json:"modifiedDate,omitempty"`
	ModifiedByUserName string   `json:"modifiedByUserName,omitempty"`
	Name               string   `json:"name"`
	ValueType          string   `json:"valueType"`
	ChoiceValues       []string `json:"choiceValues"`
	ObjectTypes        []string `json:"objectTypes"`
	Description        string   `json:"description,omitempty"`
	SchemaPath         string   `json:"schemaPath,omitempty"`
}

// App is the full App entity.
type App struct {
	ID                    string                `json:"id"`
	CreatedDate           string                `json:"createdDate,omitempty"`
	ModifiedDate          string                `json:"modifiedDate,omitempty"`
	ModifiedByUserName    string                `json:"modifiedByUserName,omitempty"`
	CustomProperties      []CustomPropertyValue `json:"customProperties"`
	Owner                 UserCondensed         `json:"owner"`
	Name                  string                `json:"name"`
	AppID                 string                `json:"appId"`
	SourceAppID           string                `json:"sourceAppId,omitempty"`
	TargetAppID           string                `json:"targetAppId,omitempty"`
	PublishTime           string                `json:"publishTime"`
	Published             bool                  `json:"published"`
	Tags                  []TagCondensed        `json:"tags"`
	Description           string                `json:"description"`
	Stream                *StreamCondensed      `json:"stream"`
	FileSize              int64                 `json:"fileSize"`
	LastReloadTime        string                `json:"lastReloadTime"`
	Thumbnail             string                `json:"thumbnail"`
	SavedInProductVersion string                `json:"savedInProductVersion"`
	MigrationHash         string                `json:"migrationHash,omitempty"`
	DynamicColor          string                `json:"dynamicColor"`
	AvailabilityStatus    int                   `json:"availabilityStatus"`
	SchemaPath            string                `json:"schemaPath,omitempty"`

	// raw is the JSON this App was decoded from; updates overlay the
	// modelled fields on it so that fields this type does not model survive.
	raw json.RawMessage
}

// UnmarshalJSON decodes an App and keeps its JSON for lossless updates.
func (a *App) UnmarshalJSON(b []byte) error {
	type plain App
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*a = App(p)
	a.raw = append(json.RawMessage(nil), b...)
	return nil
}

// Raw returns the JSON the App was decoded from (nil for an App built in code).
func (a *App) Raw() json.RawMessage { return a.raw }

// PropertyValues returns the values of the named custom property (name
// compared case-insensitively), in the order QRS lists them.
func (a *App) PropertyValues(name string) []string {
	return propertyValues(a.CustomProperties, name)
}

func propertyValues(cps []CustomPropertyValue, name string) []string {
	var out []string
	for _, cp := range cps {
		if strings.EqualFold(cp.Definition.Name, name) {
			out = append(out, cp.Value)
		}
	}
	return out
}

// HasTag reports whether the app carries the named tag (case-insensitive).
func (a *App) HasTag(name string) bool {
	for _, t := range a.Tags {
		if strings.EqualFold(t.Name, name) {
			return true
		}
	}
	return false
}

// Stream is the full Stream entity.
type Stream struct {
	ID                 string                `json:"id"`
	CreatedDate        string                `json:"createdDate,omitempty"`
	ModifiedDate       string                `json:"modifiedDate,omitempty"`
	ModifiedByUserName string                `json:"modifiedByUserName,omitempty"`
	CustomProperties   []CustomPropertyValue `json:"customProperties"`
	Owner              UserCondensed         `json:"owner"`
	Name               string                `json:"name"`
	Tags               []TagCondensed        `json:"tags"`
	SchemaPath         string                `json:"schemaPath,omitempty"`
}

// PropertyValues returns the values of the named custom property.
func (s *Stream) PropertyValues(name string) []string {
	return propertyValues(s.CustomProperties, name)
}

// UserAttribute is one attribute of a user (the e-mail address is one).
type UserAttribute struct {
	ID             string `json:"id,omitempty"`
	CreatedDate    string `json:"createdDate,omitempty"`
	ModifiedDate   string `json:"modifiedDate,omitempty"`
	AttributeType  string `json:"attributeType"`
	AttributeValue string `json:"attributeValue"`
	ExternalID     string `json:"externalId"`
	SchemaPath     string `json:"schemaPath,omitempty"`
}

// User is the full User entity.
type User struct {
	ID                 string                `json:"id"`
	CreatedDate        string                `json:"createdDate,omitempty"`
	ModifiedDate       string                `json:"modifiedDate,omitempty"`
	ModifiedByUserName string                `json:"modifiedByUserName,omitempty"`
	CustomProperties   []CustomPropertyValue `json:"customProperties"`
	UserID             string                `json:"userId"`
	UserDirectory      string                `json:"userDirectory"`
	Name               string                `json:"name"`
	Roles              []string              `json:"roles"`
	Attributes         []UserAttribute       `json:"attributes"`
	Inactive           bool                  `json:"inactive"`
	RemovedExternally  bool                  `json:"removedExternally"`
	Blacklisted        bool                  `json:"blacklisted"`
	DeleteProhibited   bool                  `json:"deleteProhibited"`
	Tags               []TagCondensed        `json:"tags"`
	SchemaPath         string                `json:"schemaPath,omitempty"`
}

// Email returns the user's e-mail attribute ("" when there is none). The
// attribute type is compared case-insensitively, as QRS stores it as given.
func (u *User) Email() string {
	for _, a := range u.Attributes {
		if strings.EqualFold(a.AttributeType, "email") && strings.TrimSpace(a.AttributeValue) != "" {
			return strings.TrimSpace(a.AttributeValue)
		}
	}
	return ""
}

// Tag is the full Tag entity.
type Tag struct {
	ID                   string `json:"id,omitempty"`
	CreatedDate          string `json:"createdDate,omitempty"`
	ModifiedDate         string `json:"modifiedDate,omitempty"`
	ModifiedByUserName   string `json:"modifiedByUserName,omitempty"`
	Name                 string `json:"name"`
	ImpactSecurityAccess bool   `json:"impactSecurityAccess"`
	SchemaPath           string `json:"schemaPath,omitempty"`
}

// ExportResponse is QRS's AppExportResponse.
type ExportResponse struct {
	ExportToken  string `json:"exportToken"`
	AppID        string `json:"appId"`
	DownloadPath string `json:"downloadPath"`
	Cancelled    bool   `json:"cancelled"`
	SchemaPath   string `json:"schemaPath,omitempty"`
}

// ParseTime parses a QRS timestamp ("2026-11-27T09:30:05.118Z"); the zero
// time for "" and for NeverPublished.
func ParseTime(s string) time.Time {
	if s == "" || s == NeverPublished {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

// FormatTime formats a time the way QRS does (milliseconds, UTC, Z).
func FormatTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}
