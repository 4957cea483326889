package qrs

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
)

// App reads one app (GET /qrs/app/{id}); IsNotFound(err) when it does not exist.
func (c *Client) App(ctx context.Context, id string) (*App, error) {
	var a App
	if err := c.get(ctx, "/qrs/app/{id}", []string{id}, "", &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// Apps lists apps matching the filter (GET /qrs/app/full?filter=…); nil filter: all.
func (c *Client) Apps(ctx context.Context, f *Filter) ([]App, error) {
	var as []App
	if err := c.list(ctx, "/qrs/app/full", f, &as); err != nil {
		return nil, err
	}
	return as, nil
}

// UpdateApp reads the app, lets change modify it, and PUTs the whole entity
// back with the modifiedDate it read; fields App does not model survive
// (see overlay). On 409 it re-reads and re-applies change, up to 5 reads in
// all. When change leaves the app as it was, nothing is written (no
// notification fires) and the app as read is returned. An error from change
// aborts the update and is returned as is.
func (c *Client) UpdateApp(ctx context.Context, id string, change func(*App) error) (*App, error) {
	var conflict error
	for range updateAttempts {
		app, err := c.App(ctx, id)
		if err != nil {
			return nil, err
		}
		read := app.ModifiedDate
		before, err := json.Marshal(app)
		if err != nil {
			return nil, err
		}
		if err := change(app); err != nil {
			return nil, err
		}
		after, err := json.Marshal(app)
		if err != nil {
			return nil, err
		}
		if string(before) == string(after) {
			return app, nil
		}
		body, err := overlay(app.Raw(), before, after, read)
		if err != nil {
			return nil, fmt.Errorf("qrs %s: updating app %s: %w", c.cfg.Alias, id, err)
		}
		r, p := route("/qrs/app/{id}", id)
		var out App
		err = c.send(ctx, call{method: http.MethodPut, route: r, path: p, body: body, ctype: "application/json"}, &out)
		if err == nil {
			return &out, nil
		}
		if !IsConflict(err) {
			return nil, err
		}
		conflict = err
		c.conn.log.Info("app changed while we updated it; reading it again", "site", c.cfg.Alias, "app", id)
	}
	return nil, fmt.Errorf("app %s kept changing while we updated it (%d attempts): %w", id, updateAttempts, conflict)
}

// DeleteApp deletes an app (DELETE /qrs/app/{id}).
func (c *Client) DeleteApp(ctx context.Context, id string) error {
	r, p := route("/qrs/app/{id}", id)
	return c.send(ctx, call{method: http.MethodDelete, route: r, path: p}, nil)
}

// CopyApp copies an app server-side (POST /qrs/app/{id}/copy?name=…); the
// caller owns the copy. name "" keeps the source's name.
func (c *Client) CopyApp(ctx context.Context, id, name string) (*App, error) {
	q := ""
	if name != "" {
		q = query("name", name)
	}
	r, p := route("/qrs/app/{id}/copy", id)
	var a App
	if err := c.send(ctx, call{method: http.MethodPost, route: r, path: p, query: q}, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// PublishApp publishes an app to a stream (PUT /qrs/app/{id}/publish?stream=…&name=…);
// name "" keeps the app's name.
func (c *Client) PublishApp(ctx context.Context, id, streamID, name string) (*App, error) {
	q := query("stream", streamID)
	if name != "" {
		q += "&" + query("name", name)
	}
	r, p := route("/qrs/app/{id}/publish", id)
	var a App
	if err := c.send(ctx, call{method: http.MethodPut, route: r, path: p, query: q}, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// ReplaceApp replaces target with the content of source (PUT /qrs/app/{source}/replace?app={target}).
func (c *Client) ReplaceApp(ctx context.Context, sourceID, targetID string) (*App, error) {
	r, p := route("/qrs/app/{id}/replace", sourceID)
	var a App
	if err := c.send(ctx, call{method: http.MethodPut, route: r, path: p, query: query("app", targetID)}, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// ReloadApp asks for a reload (POST /qrs/app/{id}/reload).
func (c *Client) ReloadApp(ctx context.Context, id string) error {
	r, p := route("/qrs/app/{id}/reload", id)
	return c.send(ctx, call{method: http.MethodPost, route: r, path: p}, nil)
}
