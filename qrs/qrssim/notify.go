package qrssim

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/qs-promoter/qs-promoter/qrs"
)

// Subscription is a live change subscription (POST /qrs/notification).
type Subscription struct {
	Handle       string
	Name         string         // entity type: App, Stream …
	ChangeType   qrs.ChangeType // ChangeUndefined: every change type
	PropertyName string         // "" any; "x" only changes of x; "!x" changes not touching x
	Filter       string         // "" none
	ObjectID     string         // the id parameter: one object only
	URL          string
	Created      time.Time

	filter filterNode
}

// change is one repository change, before it is matched to subscriptions.
type change struct {
	typ        qrs.ChangeType
	objectType string
	objectID   string
	props      []string // camelCase, always with modifiedDate for Add and Update
	created    time.Time
	modified   time.Time
	modifiedBy string
	doc        any // the entity after the change (nil for Delete), for filters
}

// changeRecord is one entry of the change log (GET /qrs/notification/changes).
type changeRecord struct {
	SchemaPath string         `json:"schemaPath"`
	ChangeType qrs.ChangeType `json:"changeType"`
	ID         string         `json:"id"`
	Type       string         `json:"type"`
	ChangeDate string         `json:"changeDate"`
	Object     changedObject  `json:"object"`
	at         time.Time
}

type changedObject struct {
	SchemaPath         string `json:"schemaPath"`
	ID                 string `json:"id"`
	CreatedDate        string `json:"createdDate"`
	ModifiedDate       string `json:"modifiedDate"`
	ModifiedByUserName string `json:"modifiedByUserName"`
}

// maxChangeLog bounds the change log; maxQueue bounds pending deliveries.
const (
	maxChangeLog = 10000
	maxQueue     = 4096
)

type delivery struct {
	url    string
	body   []byte
	handle string
}

// entityTypes maps notification names to wire types (for filter checks).
var entityTypes = map[string]reflect.Type{
	"app":                      reflect.TypeFor[appDoc](),
	"stream":                   reflect.TypeFor[streamDoc](),
	"user":                     reflect.TypeFor[userDoc](),
	"tag":                      reflect.TypeFor[tagDoc](),
	"custompropertydefinition": reflect.TypeFor[defDoc](),
}

// canonicalType spells an entity type the way QRS does.
func canonicalType(name string) string {
	for _, t := range []string{"App", "Stream", "User", "Tag", "CustomPropertyDefinition"} {
		if strings.EqualFold(t, name) {
			return t
		}
	}
	return name
}

// parseChangeType accepts a ChangeType name or number, case-insensitively.
func parseChangeType(s string) (qrs.ChangeType, bool) {
	if s == "" {
		return qrs.ChangeUndefined, true
	}
	if n, err := strconv.Atoi(s); err == nil && n >= 0 && n <= 3 {
		return qrs.ChangeType(n), true
	}
	for _, c := range []qrs.ChangeType{qrs.ChangeUndefined, qrs.ChangeAdd, qrs.ChangeUpdate, qrs.ChangeDelete} {
		if strings.EqualFold(c.String(), s) {
			return c, true
		}
	}
	return 0, false
}

func (sub *Subscription) matches(c change) bool {
	if !strings.EqualFold(sub.Name, c.objectType) {
		return false
	}
	if sub.ChangeType != qrs.ChangeUndefined && sub.ChangeType != c.typ {
		return false
	}
	if sub.ObjectID != "" && !strings.EqualFold(sub.ObjectID, c.objectID) {
		return false
	}
	if p := sub.PropertyName; p != "" {
		has := func(name string) bool {
			return slices.ContainsFunc(c.props, func(q string) bool { return strings.EqualFold(q, name) })
		}
		if neg, ok := strings.CutPrefix(p, "!"); ok {
			if has(neg) {
				return false
			}
		} else if !has(p) {
			return false
		}
	}
	// QRS does not apply filters to Delete notifications.
	if sub.filter != nil && c.typ != qrs.ChangeDelete && !sub.filter.match(c.doc) {
		return false
	}
	return true
}

// fire records a change and queues its notifications. The site's lock is held.
func (s *Site) fire(c change) {
	rec := changeRecord{
		SchemaPath: "ChangesSinceOutputCondensed", ChangeType: c.typ, ID: c.objectID, Type: c.objectType,
		ChangeDate: fmtTime(c.modified), at: c.modified,
		Object: changedObject{SchemaPath: c.objectType, ID: c.objectID, CreatedDate: fmtTime(c.created),
			ModifiedDate: fmtTime(c.modified), ModifiedByUserName: c.modifiedBy},
	}
	s.changes = append(s.changes, rec)
	if len(s.changes) > maxChangeLog {
		s.changes = slices.Delete(s.changes, 0, len(s.changes)-maxChangeLog)
	}
	if c.doc != nil {
		c.doc = toGeneric(c.doc)
	}
	var body []byte
	for _, sub := range s.subs.all() {
		if !sub.matches(c) {
			continue
		}
		if body == nil {
			info := qrs.ChangeInfo{
				ChangeType: c.typ, ObjectType: c.objectType, ObjectID: c.objectID,
				ChangedProperties: nonNil(c.props),
				OriginatorNodeID:  s.nodeID, OriginatorHostName: s.hostName,
				CreatedDate: fmtTime(c.created), ModifiedDate: fmtTime(c.modified),
				SchemaPath: "ExternalChangeInfo",
			}
			body, _ = json.Marshal([]qrs.ChangeInfo{info})
		}
		copies := s.notifyCopies
		if s.faults.DuplicateNotifications {
			copies *= 2
		}
		for range copies {
			select {
			case s.queue <- delivery{url: sub.URL, body: body, handle: sub.Handle}:
			default:
				s.log.Warn("qrssim: notification queue full; dropping a notification", "site", s.alias, "url", sub.URL)
			}
		}
	}
}

// deliver POSTs queued notifications in order until ctx ends.
func (s *Site) deliver(ctx context.Context) {
	client := &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			// Callbacks are the receiver's business; QRS is configured per
			// receiver, the simulator trusts any.
			TLSClientConfig:     &tls.Config{InsecureSkipVerify: true},
			MaxIdleConnsPerHost: 4,
		},
	}
	defer client.CloseIdleConnections()
	for {
		select {
		case <-ctx.Done():
			return
		case d := <-s.queue:
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.url, bytes.NewReader(d.body))
			if err != nil {
				s.log.Warn("qrssim: bad callback URL", "site", s.alias, "url", d.url, "err", err)
				continue
			}
			req.Header.Set("Content-Type", "application/json; charset=utf-8")
			resp, err := client.Do(req)
			if err != nil {
				if ctx.Err() == nil {
					s.log.Warn("qrssim: notification delivery failed", "site", s.alias, "url", d.url, "err", err)
				}
				continue
			}
			io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
			resp.Body.Close()
			if resp.StatusCode >= 300 {
				s.log.Warn("qrssim: notification receiver answered an error", "site", s.alias, "url", d.url, "status", resp.StatusCode)
			}
			s.delivered.Add(1)
		}
	}
}
