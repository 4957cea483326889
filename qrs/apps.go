package qrs

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
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
	return list[App](ctx, c, "/qrs/app/full", f)
}

// UpdateApp reads the app, lets change modify it, and PUTs the whole entity
// back with the modifiedDate it read; fields App does not model survive
// (see overlay). On 409 it re-reads and re-applies change, up to 5 reads in
// all; after a transient failure it does the same within the retry budget,
// so a PUT that took effect although it answered an error is found done
// and not written twice. change must therefore be idempotent: applied to
// an app it already changed, it leaves it as it is. When change leaves the
// app as it was, nothing is written (no notification fires) and the app as
// read is returned. An error from change aborts the update and is returned
// as is.
func (c *Client) UpdateApp(ctx context.Context, id string, change func(*App) error) (*App, error) {
	r, p := route("/qrs/app/{id}", id)
	k := call{method: http.MethodPut, route: r, path: p, ctype: "application/json"}
	ctx, deadline := c.budget(ctx)
	var failed error // the last transient failure, nil after a success or a conflict
	again := false   // whether failed leaves budget for another PUT
	conflicts, failures := 0, 0
	for {
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
			if failed != nil {
				c.conn.log.Info("QRS call answered an error but had taken effect", "site", c.cfg.Alias,
					"method", k.method, "route", k.route, "err", failed)
			}
			return app, nil
		}
		if failed != nil && !again {
			return nil, failed
		}
		if err := c.writable(k); err != nil {
			return nil, err // a read-only client refuses only a change it would write
		}
		if k.body, err = overlay(app.Raw(), before, after, read); err != nil {
			return nil, fmt.Errorf("qrs %s: updating app %s: %w", c.cfg.Alias, id, err)
		}
		var out App
		err = c.sendOnce(ctx, k, &out)
		switch {
		case err == nil:
			return &out, nil
		case IsConflict(err):
			conflicts++
			if conflicts >= updateAttempts {
				return nil, fmt.Errorf("app %s kept changing while we updated it (%d attempts): %w", id, updateAttempts, err)
			}
			failed = nil
			c.conn.log.Info("app changed while we updated it; reading it again", "site", c.cfg.Alias, "app", id)
		case IsRetryable(err):
			// Read again, whether to retry or not: the change may be there.
			failures++
			failed = err
			again = c.pause(ctx, k, failures, err, deadline)
		default:
			return nil, err
		}
	}
}

// DeleteApp deletes an app (DELETE /qrs/app/{id}). A repeat after a
// failure that answers 404 is success: the failed attempt deleted it.
func (c *Client) DeleteApp(ctx context.Context, id string) error {
	r, p := route("/qrs/app/{id}", id)
	return c.send(ctx, call{method: http.MethodDelete, route: r, path: p}, nil)
}

// CopyApp copies an app server-side (POST /qrs/app/{id}/copy?name=…); the
// caller owns the copy. name "" keeps the source's name. After a failure
// that may have reached the server, the copy is looked for (by name, owned
// by the caller, not there before the first attempt) before copying again,
// so an error answered after the copy was made never makes a second one.
func (c *Client) CopyApp(ctx context.Context, id, name string) (*App, error) {
	q := ""
	if name != "" {
		q = query("name", name)
	}
	r, p := route("/qrs/app/{id}/copy", id)
	k := call{method: http.MethodPost, route: r, path: p, query: q}
	if err := c.writable(k); err != nil {
		return nil, err
	}
	ctx, _ = c.budget(ctx)
	look := name
	if look == "" {
		src, err := c.App(ctx, id)
		if err != nil {
			return nil, err
		}
		look = src.Name
	}
	var a App
	if err := c.createApp(ctx, k, look, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// createApp makes a call that creates an app named name (copy, upload)
// into out, checking after a failure whether the app was made anyway.
func (c *Client) createApp(ctx context.Context, k call, name string, out *App) error {
	apps, err := c.Apps(ctx, Eq("name", name))
	if err != nil {
		return err
	}
	before := map[string]bool{}
	for _, a := range apps {
		before[strings.ToLower(a.ID)] = true
	}
	return c.write(ctx, k, out, func(ctx context.Context) (bool, error) {
		apps, err := c.Apps(ctx, Eq("name", name))
		if err != nil {
			return false, err
		}
		var made *App
		for i := range apps {
			a := &apps[i]
			if a.Name != name || before[strings.ToLower(a.ID)] || !c.owns(a.Owner) {
				continue
			}
			if made == nil || ParseTime(a.CreatedDate).After(ParseTime(made.CreatedDate)) {
				made = a
			}
		}
		if made != nil {
			*out = *made
		}
		return made != nil, nil
	})
}

// owns reports whether u is the user the client calls as (true when QRS
// did not say).
func (c *Client) owns(u UserCondensed) bool {
	if u.UserID == "" && u.UserDirectory == "" {
		return true
	}
	var dir, id string
	for _, part := range strings.Split(c.cfg.User, ";") {
		k, v, _ := strings.Cut(part, "=")
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "userdirectory":
			dir = strings.TrimSpace(v)
		case "userid":
			id = strings.TrimSpace(v)
		}
	}
	return strings.EqualFold(u.UserID, id) && strings.EqualFold(u.UserDirectory, dir)
}

// PublishApp publishes an app to a stream (PUT /qrs/app/{id}/publish?stream=…&name=…);
// name "" keeps the app's name. After a failure that may have reached the
// server, the app is read: published to that stream, it is done.
func (c *Client) PublishApp(ctx context.Context, id, streamID, name string) (*App, error) {
	q := query("stream", streamID)
	if name != "" {
		q += "&" + query("name", name)
	}
	r, p := route("/qrs/app/{id}/publish", id)
	var a App
	err := c.write(ctx, call{method: http.MethodPut, route: r, path: p, query: q}, &a, func(ctx context.Context) (bool, error) {
		now, err := c.App(ctx, id)
		if err != nil {
			return false, err
		}
		if !now.Published || now.Stream == nil || !strings.EqualFold(now.Stream.ID, streamID) || (name != "" && now.Name != name) {
			return false, nil
		}
		a = *now
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return &a, nil
}

// ReplaceApp replaces target with the content of source (PUT
// /qrs/app/{source}/replace?app={target}). After a failure that may have
// reached the server, the target is read: changed since before the call and
// holding the source's content (size and reload time), it is done.
func (c *Client) ReplaceApp(ctx context.Context, sourceID, targetID string) (*App, error) {
	r, p := route("/qrs/app/{id}/replace", sourceID)
	k := call{method: http.MethodPut, route: r, path: p, query: query("app", targetID)}
	if err := c.writable(k); err != nil {
		return nil, err
	}
	ctx, _ = c.budget(ctx)
	old, err := c.App(ctx, targetID)
	if err != nil {
		return nil, err
	}
	var a App
	err = c.write(ctx, k, &a, func(ctx context.Context) (bool, error) {
		t, err := c.App(ctx, targetID)
		if err != nil {
			return false, err
		}
		src, err := c.App(ctx, sourceID)
		if err != nil {
			return false, err
		}
		if t.ModifiedDate == old.ModifiedDate || t.FileSize != src.FileSize || t.LastReloadTime != src.LastReloadTime {
			return false, nil
		}
		a = *t
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return &a, nil
}

// ReloadApp asks for a reload (POST /qrs/app/{id}/reload). It is repeated
// only when the failed attempt never reached the server: a reload runs as a
// task, and whether one was started cannot be told.
func (c *Client) ReloadApp(ctx context.Context, id string) error {
	r, p := route("/qrs/app/{id}/reload", id)
	return c.write(ctx, call{method: http.MethodPost, route: r, path: p}, nil, nil)
}
