package daemon

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/qs-promoter/qs-promoter/qrs"
)

// site is one configured QRS site and what the daemon knows of it.
type site struct {
	alias  string
	host   string
	watch  bool
	client *qrs.Client
	token  string // the secret in this site's callback URL

	kick chan struct{} // asks the catch-up loop to run now

	mu            sync.Mutex
	up            bool
	checked       bool
	lastCheck     time.Time
	lastErr       string
	handles       []string
	subscribedAt  time.Time
	resubscribe   bool // the last subscription attempt failed: try again
	lastCatchup   time.Time
	catchupErr    string
	catchupQueued int
}

// subscriptions are what the daemon asks each watched site for: every app
// update (the kinds are derived from changedProperties) and app creation.
// Deletions are not subscribed: a deleted app has no facts to evaluate.
var subscriptions = []qrs.Subscription{
	{Name: "App", ChangeType: qrs.ChangeUpdate},
	{Name: "App", ChangeType: qrs.ChangeAdd},
}

func (d *Daemon) callbackURL(s *site) string {
	return d.cfg.CallbackURL + "/callback/" + s.alias + "/" + s.token
}

// keepSite checks the site's health every health_interval. A watched site
// is subscribed when it is first seen up, again when it comes back after a
// failed check (a QRS restart drops subscriptions), and again every
// resubscribe_interval (to heal a restart no check noticed); each time the
// handles replaced are deleted, so QRS holds one live set.
func (d *Daemon) keepSite(ctx context.Context, s *site) {
	t := time.NewTicker(d.cfg.HealthInterval)
	defer t.Stop()
	for {
		d.checkSite(ctx, s)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (d *Daemon) checkSite(ctx context.Context, s *site) {
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	_, err := s.client.About(cctx)
	cancel()
	if ctx.Err() != nil {
		return
	}
	s.mu.Lock()
	wasUp, checked := s.up, s.checked
	s.checked, s.lastCheck = true, d.now()
	if err != nil {
		s.up, s.lastErr = false, err.Error()
		s.mu.Unlock()
		d.metrics.siteUp.WithLabelValues(s.alias).Set(0)
		if wasUp || !checked {
			d.log.Warn("site unreachable", "site", s.alias, "err", err)
		}
		return
	}
	s.up, s.lastErr = true, ""
	retry := s.resubscribe
	due := !wasUp || retry || d.now().Sub(s.subscribedAt) >= d.cfg.ResubscribeInterval
	s.mu.Unlock()
	d.metrics.siteUp.WithLabelValues(s.alias).Set(1)
	if !wasUp && checked {
		d.log.Info("site reachable again", "site", s.alias)
	}
	if !s.watch || !due {
		return
	}
	if err := d.subscribe(ctx, s); err != nil {
		d.log.Error("subscribing to the site's changes failed; retrying at the next health check", "site", s.alias, "err", err)
		s.mu.Lock()
		s.resubscribe = true
		s.mu.Unlock()
		return
	}
	if !wasUp || retry {
		// The site was down, restarting, unsubscribed, or this is the
		// start: changes may have been missed.
		d.kickCatchup(s)
	}
}

// subscribe makes a new set of subscriptions for the site, then deletes the
// handles it replaces (including those a previous run recorded). Handles
// are recorded as they are made, so a crash midway leaves none unknown.
func (d *Daemon) subscribe(ctx context.Context, s *site) error {
	old, err := d.store.Handles(ctx, s.alias)
	if err != nil {
		return err
	}
	recorded := append([]string(nil), old...)
	var made []string
	for _, sub := range subscriptions {
		sub.URL = d.callbackURL(s)
		h, err := s.client.Subscribe(ctx, sub)
		if err != nil {
			// Undo this attempt's handles; the old set stays as it is.
			for _, h := range made {
				_ = s.client.Unsubscribe(context.WithoutCancel(ctx), h)
			}
			_ = d.store.SetHandles(context.WithoutCancel(ctx), s.alias, old)
			return err
		}
		made = append(made, h)
		recorded = append(recorded, h)
		// The subscription exists now: record it even if shutdown cancels
		// ctx meanwhile, or nobody will ever delete it.
		if err := d.store.SetHandles(context.WithoutCancel(ctx), s.alias, recorded); err != nil {
			return err
		}
	}
	for _, h := range old {
		if err := s.client.Unsubscribe(ctx, h); err != nil && !qrs.IsNotFound(err) {
			// Keep it recorded so the next renewal tries again.
			d.log.Warn("could not delete a replaced subscription", "site", s.alias, "handle", h, "err", err)
			made = append(made, h)
		}
	}
	if err := d.store.SetHandles(ctx, s.alias, made); err != nil {
		return err
	}
	s.mu.Lock()
	s.handles = made[:len(subscriptions)]
	s.subscribedAt = d.now()
	s.resubscribe = false
	s.mu.Unlock()
	d.metrics.subscribes.WithLabelValues(s.alias).Inc()
	d.log.Info("subscribed to the site's app changes", "site", s.alias, "handles", s.handles)
	return nil
}

// unsubscribeAll deletes every watched site's subscriptions (clean
// shutdown). A site that cannot be reached keeps them recorded, and the
// next start deletes them.
func (d *Daemon) unsubscribeAll(ctx context.Context) {
	for _, s := range d.order {
		if !s.watch {
			continue
		}
		hs, err := d.store.Handles(ctx, s.alias)
		if err != nil {
			d.log.Warn("cannot read subscription handles", "site", s.alias, "err", err)
			continue
		}
		var left []string
		for _, h := range hs {
			if err := s.client.Unsubscribe(ctx, h); err != nil && !qrs.IsNotFound(err) {
				left = append(left, h)
				if !errors.Is(err, context.DeadlineExceeded) {
					d.log.Warn("could not unsubscribe; the next start deletes it", "site", s.alias, "handle", h, "err", err)
				}
			}
		}
		if err := d.store.SetHandles(ctx, s.alias, left); err != nil {
			d.log.Warn("cannot record subscription handles", "site", s.alias, "err", err)
		}
		s.mu.Lock()
		s.handles = nil
		s.mu.Unlock()
		if len(left) == 0 {
			d.log.Info("unsubscribed", "site", s.alias)
		}
	}
}

func (d *Daemon) kickCatchup(s *site) {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}
