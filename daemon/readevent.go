package daemon

import (
	"context"
	"fmt"

	"github.com/qs-promoter/qs-promoter/engine"
	"github.com/qs-promoter/qs-promoter/qrs"
)

// ReadEvent reads what QRS says now about an app, its stream and its owner:
// what the daemon evaluates for every execution, and `dry-run --live` for
// one app. The event names site and holds no notification, kind or time;
// callers add them. A missing app is an error for which qrs.IsNotFound
// holds (the daemon records the execution as skipped); a stream or owner
// deleted meanwhile leaves that part nil rather than failing.
func ReadEvent(ctx context.Context, c *qrs.Client, site, appID string) (*engine.Event, error) {
	app, err := c.App(ctx, appID)
	if qrs.IsNotFound(err) {
		return nil, fmt.Errorf("app %s does not exist on site %s: %w", appID, site, err)
	}
	if err != nil {
		return nil, fmt.Errorf("reading app %s on site %s: %w", appID, site, err)
	}
	ev := &engine.Event{Site: site, App: app}
	if app.Stream != nil && app.Stream.ID != "" {
		st, err := c.Stream(ctx, app.Stream.ID)
		if err != nil && !qrs.IsNotFound(err) {
			return nil, fmt.Errorf("reading the stream of app %s on site %s: %w", appID, site, err)
		}
		ev.Stream = st
	}
	if app.Owner.ID != "" {
		u, err := c.User(ctx, app.Owner.ID)
		if err != nil && !qrs.IsNotFound(err) {
			return nil, fmt.Errorf("reading the owner of app %s on site %s: %w", appID, site, err)
		}
		ev.Owner = u
	}
	return ev, nil
}
