package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/qs-promoter/qs-promoter/actions"
	"github.com/qs-promoter/qs-promoter/engine"
	"github.com/qs-promoter/qs-promoter/qrs"
)

// DryRunActions returns the actions as a dry-run uses them: sites only
// through read-only clients (nil: none, and the actions contact nothing),
// mail, S3 and webhooks by name only, so that plans read no secret and
// nothing is ever sent or written. cfg may be nil (no configuration).
// `qs-promoter dry-run` and the console's dry-run both use it.
func DryRunActions(cfg *Config, sites map[string]*qrs.Client) (map[string]engine.Action, error) {
	deps := actions.Deps{Log: slog.New(slog.DiscardHandler), Offline: sites == nil}
	for alias, c := range sites {
		if deps.Sites == nil {
			deps.Sites = map[string]*qrs.Client{}
		}
		deps.Sites[alias] = c.ReadOnly()
	}
	if cfg != nil {
		deps.S3Config = cfg.S3
		for _, w := range cfg.Webhooks {
			deps.Webhooks = append(deps.Webhooks, actions.WebhookForPlans(w))
		}
		if cfg.Approvers != "" {
			var err error
			if deps.Approvers, err = actions.LoadApprovers(cfg.Approvers); err != nil {
				return nil, err
			}
		}
	}
	return actions.New(deps), nil
}

// DryRun is what a dry-run found: the facts evaluated, and what each policy
// would do, against the rule set named.
type DryRun struct {
	Ruleset *engine.Ruleset
	Facts   *engine.Facts
	Report  *engine.Report
}

// DryRunEvent evaluates ev against the policies in use and plans every
// step, writing nothing; live plans read the sites (read-only), a recorded
// event's plans contact nothing.
func (d *Daemon) DryRunEvent(ctx context.Context, ev *engine.Event, live bool) (*DryRun, error) {
	var sites map[string]*qrs.Client
	if live {
		sites = map[string]*qrs.Client{}
		for _, s := range d.order {
			sites[s.alias] = s.client
		}
	}
	acts, err := DryRunActions(d.cfg, sites)
	if err != nil {
		return nil, err
	}
	rs := d.rules.Current()
	facts, err := engine.NewFacts(ev, rs.Config())
	if err != nil {
		return nil, err
	}
	rep, err := rs.Execute(ctx, facts, acts, engine.ExecOptions{ExecutionID: "dry-run", DryRun: true})
	if err != nil {
		return nil, err
	}
	return &DryRun{Ruleset: rs, Facts: facts, Report: rep}, nil
}

// LiveEvent reads an app from a site, read-only, as the daemon reads it for
// a notification of the given kind.
func (d *Daemon) LiveEvent(ctx context.Context, site, appID, kind string) (*engine.Event, error) {
	s := d.sites[site]
	if s == nil {
		return nil, fmt.Errorf("site %q is not in the configuration", site)
	}
	if !slices.Contains(engine.EventKinds, kind) {
		return nil, fmt.Errorf("event kind %q is not one of %s", kind, strings.Join(engine.EventKinds, ", "))
	}
	ev, err := ReadEvent(ctx, s.client.ReadOnly(), site, appID)
	if err != nil {
		return nil, err
	}
	ev.ReceivedAt, ev.Kind = d.now().UTC(), kind
	return ev, nil
}

// SearchApps lists up to limit apps of a site whose name holds text (any
// case; "" lists any), by name.
func (d *Daemon) SearchApps(ctx context.Context, site, text string, limit int) ([]qrs.App, error) {
	s := d.sites[site]
	if s == nil {
		return nil, fmt.Errorf("site %q is not in the configuration", site)
	}
	var f *qrs.Filter
	if text = strings.TrimSpace(text); text != "" {
		f = qrs.Contains("name", text)
	}
	apps, err := s.client.ReadOnly().Apps(ctx, f)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(apps, func(a, b qrs.App) int { return strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)) })
	if len(apps) > limit {
		apps = apps[:limit]
	}
	return apps, nil
}

// WaitingApp is an app on a watched site that waits for a reviewer's
// decision.
type WaitingApp struct {
	Site    string
	App     qrs.App
	Stream  string   // where it is published
	Targets []string // its PromoteToServer and PromoteToStream values
	Alert   bool     // published to a stream with the alert property
	Since   time.Time
}

// Approvals lists the apps on the watched sites that wait for a decision:
// published to a stream with the alert property, or carrying
// PromoteToServer, and without an approval value yet. The property names
// are the policies' (config.alert_property, config.server_property,
// config.stream_property, config.approval_property).
func (d *Daemon) Approvals(ctx context.Context) ([]WaitingApp, error) {
	cfg := d.rules.Current().Config()
	name := func(key, def string) string {
		if v, ok := cfg[key].(string); ok && v != "" {
			return v
		}
		return def
	}
	alertProp, serverProp := name("alert_property", "EmailAlertOnPublishTo"), name("server_property", "PromoteToServer")
	streamProp, approvalProp := name("stream_property", "PromoteToStream"), name("approval_property", "PromotionApproval")
	var out []WaitingApp
	var errs []error
	for _, s := range d.order {
		if !s.watch {
			continue
		}
		c := s.client.ReadOnly()
		alerting, err := c.Streams(ctx, qrs.Eq("customProperties.definition.name", alertProp))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		filters := []*qrs.Filter{qrs.Eq("customProperties.definition.name", serverProp)}
		alertIDs := map[string]bool{}
		for _, st := range alerting {
			alertIDs[st.ID] = true
			filters = append(filters, qrs.Eq("stream.id", qrs.GUID(st.ID)))
		}
		apps, err := c.Apps(ctx, qrs.And(qrs.Eq("published", true), qrs.Or(filters...)))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, a := range apps {
			if len(propValues(a, approvalProp)) > 0 {
				continue // decided: the policies take it from here
			}
			w := WaitingApp{Site: s.alias, App: a, Targets: append(propValues(a, serverProp), propValues(a, streamProp)...)}
			if a.Stream != nil {
				w.Stream, w.Alert = a.Stream.Name, alertIDs[a.Stream.ID]
			}
			w.Since = qrs.ParseTime(a.PublishTime)
			for _, cp := range a.CustomProperties {
				if strings.EqualFold(cp.Definition.Name, serverProp) {
					if t := qrs.ParseTime(cp.ModifiedDate); t.After(w.Since) {
						w.Since = t
					}
				}
			}
			out = append(out, w)
		}
	}
	slices.SortStableFunc(out, func(a, b WaitingApp) int { return a.Since.Compare(b.Since) })
	return out, errors.Join(errs...)
}

// propValues returns an app's non-empty values of a custom property.
func propValues(a qrs.App, prop string) []string {
	var out []string
	for _, cp := range a.CustomProperties {
		if strings.EqualFold(cp.Definition.Name, prop) && strings.TrimSpace(cp.Value) != "" {
			out = append(out, cp.Value)
		}
	}
	return out
}
