package demo

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/qs-promoter/qs-promoter/qrs"
)

// What people do on the watched site (dev), through the QRS API as they
// would through the hub or the QMC, and what the sites hold now.

// Publish publishes app to the named stream on dev, as account.
func (e *Env) Publish(ctx context.Context, account, appID, stream string) error {
	c, err := e.Client("dev", account)
	if err != nil {
		return err
	}
	st, ok := e.Sim.Site("dev").StreamByName(stream)
	if !ok {
		return fmt.Errorf("no stream %q on dev", stream)
	}
	_, err = c.PublishApp(ctx, appID, st.ID, "")
	return err
}

// SetProperties sets custom properties of an app on dev in one save, as
// account: each named property gets exactly the given values (none: removed).
func (e *Env) SetProperties(ctx context.Context, account, appID string, props map[string][]string) error {
	c, err := e.Client("dev", account)
	if err != nil {
		return err
	}
	defs, err := c.CustomPropertyDefinitions(ctx, nil)
	if err != nil {
		return err
	}
	byName := map[string]qrs.CustomPropertyDefinition{}
	for _, d := range defs {
		byName[strings.ToLower(d.Name)] = d
	}
	for name := range props {
		if _, ok := byName[strings.ToLower(name)]; !ok {
			return fmt.Errorf("custom property %q is not defined on dev", name)
		}
	}
	_, err = c.UpdateApp(ctx, appID, func(a *qrs.App) error {
		var kept []qrs.CustomPropertyValue
		for _, v := range a.CustomProperties {
			if _, replaced := lookupFold(props, v.Definition.Name); !replaced {
				kept = append(kept, v)
			}
		}
		for name, values := range props {
			d := byName[strings.ToLower(name)]
			for _, v := range values {
				kept = append(kept, qrs.CustomPropertyValue{Value: v, Definition: qrs.CustomPropertyDefinitionCondensed{ID: d.ID, Name: d.Name}})
			}
		}
		a.CustomProperties = kept
		return nil
	})
	return err
}

// Reload reloads an app on dev, as account (a reload task's user).
func (e *Env) Reload(ctx context.Context, account, appID string) error {
	c, err := e.Client("dev", account)
	if err != nil {
		return err
	}
	return c.ReloadApp(ctx, appID)
}

func lookupFold[V any](m map[string]V, key string) (V, bool) {
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	var zero V
	return zero, false
}

// Apps lists the apps of a site named name (case-insensitive), read from
// the simulator itself: checks must not depend on the client under test.
func (e *Env) Apps(site, name string) []qrs.App {
	var out []qrs.App
	for _, a := range e.Sim.Site(site).Apps() {
		if strings.EqualFold(a.Name, name) {
			out = append(out, a)
		}
	}
	return out
}

// AppIn returns the apps named name published in stream on site.
func (e *Env) AppIn(site, name, stream string) []qrs.App {
	var out []qrs.App
	for _, a := range e.Apps(site, name) {
		if a.Published && a.Stream != nil && strings.EqualFold(a.Stream.Name, stream) {
			out = append(out, a)
		}
	}
	return out
}

// AppID returns the ID of the app named name on dev ("" if there is none
// or several).
func (e *Env) AppID(name string) string {
	apps := e.Apps("dev", name)
	if len(apps) != 1 {
		return ""
	}
	return apps[0].ID
}

// ContentHash returns the identity of an app's file ("" if the app is gone).
func (e *Env) ContentHash(site, appID string) string {
	c, ok := e.Sim.Site(site).Content(appID)
	if !ok {
		return ""
	}
	return c.Hash
}

// MailsTo returns the messages from index since on sent to addr.
func (e *Env) MailsTo(since int, addr string) []Mail {
	var out []Mail
	msgs := e.Mail.Messages()
	for _, m := range msgs[min(since, len(msgs)):] {
		if slices.ContainsFunc(m.To, func(t string) bool { return strings.EqualFold(t, addr) }) {
			out = append(out, m)
		}
	}
	return out
}
