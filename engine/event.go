package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/qs-promoter/qs-promoter/qrs"
	"github.com/qs-promoter/qs-promoter/yamlread"
)

var eventKeys = []string{"site", "receivedAt", "kind", "notification", "app", "stream", "owner", "setters"}

// ReadEvent decodes a recorded event. Its top level is strict (an unknown
// key is an error); the QRS entities inside may carry fields this program
// does not model, as QRS adds them between versions.
func ReadEvent(r io.Reader) (*Event, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, jsonError(data, err)
	}
	if top == nil {
		return nil, errors.New("the event is null; want an object with site, receivedAt, notification, app, stream and owner")
	}
	var unknown []string
	for k := range top {
		if !slices.Contains(eventKeys, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, errors.New(yamlread.UnknownKey(unknown[0], "the event", eventKeys))
	}
	var ev Event
	if err := json.Unmarshal(data, &ev); err != nil {
		return nil, jsonError(data, err)
	}
	if ev.App == nil {
		return nil, errors.New("the event has no \"app\": add the app's JSON from GET /qrs/app/full?filter=id eq <id> (its first element)")
	}
	if ev.App.ID == "" {
		return nil, errors.New("the event's \"app\" has no \"id\"")
	}
	if ev.Kind != "" && !slices.Contains(EventKinds, ev.Kind) {
		return nil, fmt.Errorf("the event's kind %q is unknown (known: %s)", ev.Kind, strings.Join(EventKinds, ", "))
	}
	return &ev, nil
}

// ReadEventFile reads a recorded event from a file.
func ReadEventFile(path string) (*Event, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ev, err := ReadEvent(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return ev, nil
}

// jsonError adds the line and column to a JSON decoding error.
func jsonError(data []byte, err error) error {
	var off int64 = -1
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	var pe *time.ParseError
	switch {
	case errors.As(err, &te) && te.Field == "":
		return fmt.Errorf("the event is a JSON %s; want an object with site, receivedAt, notification, app, stream and owner", te.Value)
	case errors.As(err, &te):
		// The offset of a type error inside an entity with its own
		// UnmarshalJSON (qrs.App) is relative to that entity: name the field.
		return fmt.Errorf("%s holds a JSON %s, want %s", te.Field, te.Value, jsonKind(te.Type))
	case errors.As(err, &pe):
		// The only time the event decodes itself (QRS's are strings).
		return fmt.Errorf("receivedAt: want an RFC 3339 time like 2026-11-27T09:30:05Z, got %q", pe.Value)
	case errors.As(err, &se):
		off = se.Offset
	default:
		return err
	}
	before := data[:min(int(off), len(data))]
	line := bytes.Count(before, []byte("\n")) + 1
	col := int(off) - bytes.LastIndexByte(before, '\n')
	return fmt.Errorf("line %d, column %d: %v", line, col, err)
}

// jsonKind names a Go type in JSON's terms.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Struct, reflect.Map, reflect.Pointer:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	}
	return "a " + t.String()
}

// NewFacts builds the facts policies see from a recorded event and the
// configuration values policies may read as config.<key>. The approvers of
// the app's stream come from config.approvers (ApproversKey), when set.
func NewFacts(ev *Event, config map[string]any) (*Facts, error) {
	if ev == nil || ev.App == nil {
		return nil, errors.New("the event has no app: facts are built from the app as QRS returns it")
	}
	a := ev.App
	f := &Facts{Config: config}
	if f.Config == nil {
		f.Config = map[string]any{}
	}
	f.Event = eventFacts(ev)

	f.App = AppFacts{
		ID:             a.ID,
		Name:           a.Name,
		Description:    a.Description,
		Published:      a.Published,
		PublishTime:    qrs.ParseTime(a.PublishTime),
		Properties:     properties(a.CustomProperties),
		SetBy:          setBy(a.CustomProperties),
		Setters:        []UserFacts{},
		Tags:           []string{},
		LastReloadTime: qrs.ParseTime(a.LastReloadTime),
		ModifiedBy:     a.ModifiedByUserName,
		ModifiedDate:   qrs.ParseTime(a.ModifiedDate),
		FileSize:       a.FileSize,
	}
	for _, t := range a.Tags {
		f.App.Tags = append(f.App.Tags, t.Name)
	}
	f.App.Stream.Properties = map[string][]string{}
	f.App.Stream.Approvers = []string{}
	if a.Stream != nil && a.Stream.ID != "" {
		f.App.Stream.ID, f.App.Stream.Name = a.Stream.ID, a.Stream.Name
		if ev.Stream != nil && strings.EqualFold(ev.Stream.ID, a.Stream.ID) {
			if f.App.Stream.Name == "" {
				f.App.Stream.Name = ev.Stream.Name
			}
			f.App.Stream.Properties = properties(ev.Stream.CustomProperties)
		}
		if m, ok := f.Config[ApproversKey].(map[string][]string); ok && len(m[normalise(a.Stream.ID)]) > 0 {
			f.App.Stream.Approvers = slices.Clone(m[normalise(a.Stream.ID)])
		}
	}
	o := OwnerFacts{ID: a.Owner.ID, UserID: a.Owner.UserID, Directory: a.Owner.UserDirectory, Name: a.Owner.Name}
	if u := ev.Owner; u != nil && (o.ID == "" || strings.EqualFold(u.ID, o.ID)) {
		o.ID, o.UserID, o.Directory, o.Name = u.ID, u.UserID, u.UserDirectory, u.Name
		o.Email = u.Email()
	}
	if o.UserID != "" {
		o.Account = o.Directory + `\` + o.UserID
	}
	f.App.Owner = o
	for _, u := range ev.Setters {
		if u == nil || u.UserID == "" {
			continue
		}
		account := u.UserDirectory + `\` + u.UserID
		if strings.EqualFold(account, o.Account) || slices.ContainsFunc(f.App.Setters, func(s UserFacts) bool { return strings.EqualFold(s.Account, account) }) {
			continue
		}
		f.App.Setters = append(f.App.Setters, UserFacts{Account: account, Name: u.Name, Email: u.Email()})
	}
	return f, nil
}

// eventFacts derives the kinds from the notification: created and deleted
// from the change type; published when publishTime, published or the
// stream changed; reloaded when lastReloadTime changed; and every update is
// also "updated". A forced kind (reconciled, manual) comes first.
func eventFacts(ev *Event) EventFacts {
	e := EventFacts{Site: ev.Site, ReceivedAt: ev.ReceivedAt, Changed: []string{}, Kinds: []string{}}
	var created, deleted, updated, published, reloaded bool
	for _, n := range ev.Notification {
		if e.OriginatorHost == "" {
			e.OriginatorHost, e.OriginatorNode = n.OriginatorHostName, n.OriginatorNodeID
		}
		switch n.ChangeType {
		case qrs.ChangeAdd:
			created = true
		case qrs.ChangeDelete:
			deleted = true
		default:
			updated = true
		}
		for _, p := range n.ChangedProperties {
			if !slices.Contains(e.Changed, p) {
				e.Changed = append(e.Changed, p)
			}
			switch strings.ToLower(p) {
			case "publishtime", "published", "stream":
				published = true
			case "lastreloadtime":
				reloaded = true
			}
		}
	}
	add := func(ok bool, k string) {
		if ok && !slices.Contains(e.Kinds, k) {
			e.Kinds = append(e.Kinds, k)
		}
	}
	add(ev.Kind != "", ev.Kind)
	// A forced publish or reload is an update too, as a notification's would be.
	add(ev.Kind == KindPublished || ev.Kind == KindReloaded, KindUpdated)
	add(deleted, KindDeleted)
	add(created, KindCreated)
	add(updated && published, KindPublished)
	add(updated && reloaded, KindReloaded)
	add(updated, KindUpdated)
	if len(e.Kinds) > 0 {
		e.Kind = e.Kinds[0]
	}
	return e
}

// setBy is properties' twin: who set each value.
func setBy(cps []qrs.CustomPropertyValue) map[string][]string {
	out := map[string][]string{}
	for _, cp := range cps {
		out[cp.Definition.Name] = append(out[cp.Definition.Name], cp.ModifiedByUserName)
	}
	return out
}

func properties(cps []qrs.CustomPropertyValue) map[string][]string {
	out := map[string][]string{}
	for _, cp := range cps {
		out[cp.Definition.Name] = append(out[cp.Definition.Name], cp.Value)
	}
	return out
}
