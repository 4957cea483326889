package daemon

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/qs-promoter/qs-promoter/engine"
	"github.com/qs-promoter/qs-promoter/qrs"
)

// ReadEvent reads what QRS says now about an app, its stream, its owner and
// the other users who set its custom property values (readSetters):
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
	if ev.Setters, err = readSetters(ctx, c, app); err != nil {
		return nil, fmt.Errorf("reading who set the custom properties of app %s on site %s: %w", appID, site, err)
	}
	return ev, nil
}

// maxSetters bounds the users read per event: an app under review has its
// owner's values and an approver's.
const maxSetters = 4

// readSetters reads the users, other than the owner, who set a value of
// the app's custom properties: an approver's e-mail address is what an
// approvers file of addresses knows them by (four eyes). A user QRS no
// longer has is left out.
func readSetters(ctx context.Context, c *qrs.Client, app *qrs.App) ([]*qrs.User, error) {
	owner := app.Owner.UserDirectory + `\` + app.Owner.UserID
	var seen []string
	var out []*qrs.User
	for _, cp := range app.CustomProperties {
		account := strings.TrimSpace(cp.ModifiedByUserName)
		dir, id, ok := strings.Cut(account, `\`)
		if !ok || dir == "" || id == "" || strings.EqualFold(account, owner) ||
			slices.ContainsFunc(seen, func(s string) bool { return strings.EqualFold(s, account) }) || len(seen) == maxSetters {
			continue
		}
		seen = append(seen, account)
		us, err := c.Users(ctx, qrs.And(qrs.Eq("userDirectory", dir), qrs.Eq("userId", id)))
		if qrs.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for i := range us {
			if strings.EqualFold(us[i].UserDirectory, dir) && strings.EqualFold(us[i].UserID, id) {
				out = append(out, &us[i])
				break
			}
		}
	}
	return out, nil
}
