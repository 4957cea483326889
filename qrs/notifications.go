package qrs

import (
	"context"
	"errors"
	"fmt"
	"net/http"
)

// Subscription is a change subscription (POST /qrs/notification).
type Subscription struct {
	Name         string     // entity type: "App"
	ChangeType   ChangeType // ChangeUpdate …
	PropertyName string     // optional: only changes of this property ("!name": all but it)
	Filter       *Filter    // optional
	URL          string     // the callback URL QRS will POST to
}

// Subscribe adds a change subscription and returns its handle. QRS makes a
// new subscription each time: delete handles you replace. It is repeated
// only when the failed attempt never reached the server: QRS cannot list
// subscriptions, so one made by an attempt whose answer was lost could not
// be found, and a repeat would leave two. The caller tries again later.
func (c *Client) Subscribe(ctx context.Context, s Subscription) (handle string, err error) {
	if s.Name == "" || s.URL == "" {
		return "", fmt.Errorf("qrs %s: a subscription needs an entity name (App) and a callback URL", c.cfg.Alias)
	}
	if err := s.Filter.Err(); err != nil {
		return "", err
	}
	pairs := []string{"name", s.Name}
	if s.ChangeType != ChangeUndefined {
		pairs = append(pairs, "changetype", s.ChangeType.String())
	}
	if s.PropertyName != "" {
		pairs = append(pairs, "propertyname", s.PropertyName)
	}
	if s.Filter != nil {
		pairs = append(pairs, "filter", s.Filter.String())
	}
	// QRS wants the URL as a JSON string literal, quotes included.
	k, err := jsonCall(http.MethodPost, "/qrs/notification", nil, query(pairs...), s.URL)
	if err != nil {
		return "", err
	}
	var out struct {
		Value string `json:"value"`
	}
	if err := c.write(ctx, k, &out, nil); err != nil {
		return "", err
	}
	if out.Value == "" {
		return "", errors.New("qrs " + c.cfg.Alias + ": subscribing: the answer holds no handle")
	}
	return out.Value, nil
}

// Unsubscribe removes a subscription (DELETE /qrs/notification?handle=…);
// repeated on transient failures.
func (c *Client) Unsubscribe(ctx context.Context, handle string) error {
	r, p := route("/qrs/notification")
	return c.send(ctx, call{method: http.MethodDelete, route: r, path: p, query: query("handle", handle)}, nil)
}
