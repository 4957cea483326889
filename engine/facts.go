// Package engine owns the domain of qs-promoter: the facts about an app
// change, the policies that match them, the compiled rule set, loading and
// hot reload, evaluation, step execution and dry-run. It does no network I/O:
// actions (package actions) do that behind the Action interface.
package engine

import (
	"strings"
	"time"

	"github.com/qs-promoter/qs-promoter/qrs"
)

// The event kinds a policy's `on` can name.
const (
	KindCreated    = "created"
	KindUpdated    = "updated"
	KindPublished  = "published"
	KindReloaded   = "reloaded"
	KindDeleted    = "deleted"
	KindReconciled = "reconciled"
	KindManual     = "manual"
)

// Event is a recorded event: the notification QRS sent and the entities read
// back from QRS when it was handled. Its JSON is QRS-native so an admin can
// assemble one with curl; the daemon saves every event it handles this way
// and `dry-run --event` replays it.
type Event struct {
	Site         string           `json:"site"`
	ReceivedAt   time.Time        `json:"receivedAt"`
	Kind         string           `json:"kind,omitempty"` // forced kind (reconciled, manual); derived when empty
	Notification []qrs.ChangeInfo `json:"notification"`
	App          *qrs.App         `json:"app"`
	Stream       *qrs.Stream      `json:"stream"`
	Owner        *qrs.User        `json:"owner"`
	// Setters are the users, other than the owner, who set a value of the
	// app's custom properties (GET /qrs/user/full?filter=userDirectory eq
	// '…' and userId eq '…'): an approver's e-mail address, for four eyes.
	// Optional.
	Setters []*qrs.User `json:"setters,omitempty"`
}

// Facts is what policies see: one typed value per event. The expr names
// (tags) are the policy language; the README documents each.
type Facts struct {
	Event  EventFacts     `expr:"event"`
	App    AppFacts       `expr:"app"`
	Config map[string]any `expr:"config"` // values from the daemon's configuration (`vars:`), plus `sites`
}

// EventFacts describes the change.
type EventFacts struct {
	Kind           string    `expr:"kind" json:"kind"`                       // the most specific kind
	Kinds          []string  `expr:"kinds" json:"kinds"`                     // every kind that applies (a publish is also an update)
	Changed        []string  `expr:"changed" json:"changed"`                 // changed properties, camelCase as QRS sends them
	OriginatorHost string    `expr:"originator_host" json:"originator_host"` // the node where the change was made
	OriginatorNode string    `expr:"originator_node" json:"originator_node"`
	Site           string    `expr:"site" json:"site"` // alias of the site the event came from
	ReceivedAt     time.Time `expr:"received_at" json:"received_at"`
}

// AppFacts is the app as QRS says it is now.
type AppFacts struct {
	ID             string              `expr:"id"`
	Name           string              `expr:"name"`
	Description    string              `expr:"description"`
	Published      bool                `expr:"published"`
	PublishTime    time.Time           `expr:"publish_time"` // zero when never published
	Stream         StreamFacts         `expr:"stream"`       // zero (empty id) when unpublished
	Owner          OwnerFacts          `expr:"owner"`
	Properties     map[string][]string `expr:"properties"` // custom property name → values
	SetBy          map[string][]string `expr:"set_by"`     // who set each value of Properties (DIR\user, "" if unknown), in the same order
	Setters        []UserFacts         `expr:"setters"`    // the users in SetBy, the owner apart, as QRS knows them
	Tags           []string            `expr:"tags"`
	LastReloadTime time.Time           `expr:"last_reload_time"`
	ModifiedBy     string              `expr:"modified_by"` // DIR\user of the last change
	ModifiedDate   time.Time           `expr:"modified_date"`
	FileSize       int64               `expr:"file_size"`
}

// StreamFacts is the app's stream.
type StreamFacts struct {
	ID         string              `expr:"id"`
	Name       string              `expr:"name"`
	Properties map[string][]string `expr:"properties"`
	// Approvers are the approvers file's entries for this stream: e-mail
	// addresses and DIR\user accounts ([] when it lists none).
	Approvers []string `expr:"approvers"`
}

// UserFacts is a user other than the owner (one who set a property value).
type UserFacts struct {
	Account string `expr:"account" yaml:"account"` // DIR\user
	Name    string `expr:"name" yaml:"name"`
	Email   string `expr:"email" yaml:"email"` // "" when the user has no e-mail attribute
}

// OwnerFacts is the app's owner.
type OwnerFacts struct {
	ID        string `expr:"id"`
	UserID    string `expr:"user_id"`
	Directory string `expr:"directory"`
	Name      string `expr:"name"`
	Email     string `expr:"email"`   // "" when the user has no e-mail attribute
	Account   string `expr:"account"` // DIR\user
}

func normalise(s string) string { return strings.ToLower(strings.TrimSpace(s)) }
