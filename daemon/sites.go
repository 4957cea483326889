package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/qs-promoter/qs-promoter/qrs"
	"github.com/qs-promoter/qs-promoter/store"
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
	seenAt        time.Time // when the check behind up was made, by this process's clock
	published     store.SiteHealth
	publishedAt   time.Time // when this leader last published the view (publishSite)
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

// keepSite watches one site: a health check every health_interval and, for
// a watched site, a renewal of its subscriptions every resubscribe_interval.
//
// QRS forgets its subscriptions when it restarts, and nothing in its API
// tells that it did: /qrs/about answers the same, subscriptions cannot be
// listed, and a restart can be over between two health checks. So a
// watched site is subscribed again on a timer (a new set first, then the
// replaced handles deleted: never a moment without one, never two sets at
// rest), soon after any failed health check, and every renewal is followed
// by a catch-up, since a gap may have preceded it. A restart, however
// short, is thus healed within resubscribe_interval, and what changed
// meanwhile is caught up.
func (d *Daemon) keepSite(ctx context.Context, s *site) {
	health := time.NewTicker(d.cfg.HealthInterval)
	defer health.Stop()
	renewal := time.NewTimer(d.cfg.ResubscribeInterval)
	defer renewal.Stop()
	if !s.watch {
		renewal.Stop()
	}
	timed := false // this round was started by the renewal timer, not the health ticker
	for {
		var renew bool
		if timed {
			s.mu.Lock()
			renew = s.up // when down, the health check renews once it is back
			s.mu.Unlock()
		} else {
			renew = d.checkSite(ctx, s)
		}
		if renew && s.watch {
			d.renew(ctx, s)
		}
		d.publishSite(ctx, s)
		if s.watch {
			renewal.Reset(d.untilRenewal(s))
		}
		select {
		case <-ctx.Done():
			return
		case <-health.C:
			timed = false
		case <-renewal.C:
			timed = true
		}
	}
}

// renewRetry is how soon a renewal that failed while the site answered is
// tried again.
const renewRetry = 5 * time.Second

// untilRenewal says when the site's subscriptions are renewed next.
func (d *Daemon) untilRenewal(s *site) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case !s.up:
		return d.cfg.ResubscribeInterval // the health check renews when it is back
	case s.resubscribe || s.subscribedAt.IsZero():
		return min(renewRetry, d.cfg.ResubscribeInterval)
	}
	return max(0, d.cfg.ResubscribeInterval-d.now().Sub(s.subscribedAt))
}

// checkSite probes GET /qrs/about and says whether the subscriptions must
// be renewed now: the site answers and was down, a probe failed since (a
// restart may have dropped them), the last renewal failed, or none was
// made yet. The probe is one attempt, so that even a short outage shows;
// only if a second look (with the client's retries) fails too is the site
// counted down, so that an isolated error is not an outage.
func (d *Daemon) checkSite(ctx context.Context, s *site) (renew bool) {
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	_, err := s.client.About(qrs.WithRetryBudget(cctx, 0))
	blip := err != nil
	if err != nil && qrs.IsRetryable(err) {
		_, err = s.client.About(qrs.WithRetryBudget(cctx, healthRetryBudget))
	}
	cancel()
	if ctx.Err() != nil {
		return false
	}
	s.mu.Lock()
	wasUp, checked := s.up, s.checked
	s.checked, s.lastCheck = true, d.now()
	s.seenAt = s.lastCheck
	if err != nil {
		s.up, s.lastErr = false, err.Error()
		s.mu.Unlock()
		d.metrics.siteUp.WithLabelValues(s.alias).Set(0)
		if wasUp || !checked {
			d.log.Warn("site unreachable", "site", s.alias, "err", err)
		}
		return false
	}
	s.up, s.lastErr = true, ""
	renew = !wasUp || blip || s.resubscribe || s.subscribedAt.IsZero()
	s.mu.Unlock()
	d.metrics.siteUp.WithLabelValues(s.alias).Set(1)
	if !wasUp && checked {
		d.log.Info("site reachable again", "site", s.alias)
	} else if blip && s.watch {
		d.log.Info("a health probe failed; renewing the subscriptions in case the site restarted", "site", s.alias)
	}
	return renew
}

// healthRetryBudget bounds the second look of a health check;
// renewTimeout a renewal.
const (
	healthRetryBudget = 2 * time.Second
	renewTimeout      = 30 * time.Second
)

// renew subscribes the site again and catches up: whatever made the
// renewal due (the start, an outage, the timer), changes may have been
// missed before it.
func (d *Daemon) renew(ctx context.Context, s *site) {
	// A renewal runs to its end even when the daemon stops meanwhile: a
	// subscription cut off between QRS making it and the daemon recording
	// its handle could never be deleted.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), renewTimeout)
	err := d.subscribe(sctx, s)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		d.metrics.subscribeErrors.WithLabelValues(s.alias).Inc()
		d.log.Error("subscribing to the site's changes failed; trying again soon", "site", s.alias, "err", err, "retry_in", min(renewRetry, d.cfg.ResubscribeInterval))
		s.mu.Lock()
		s.resubscribe = true
		s.mu.Unlock()
		return
	}
	d.kickCatchup(s)
}

// subscribe makes a new set of subscriptions for the site, then deletes the
// handles it replaces (including those a previous run recorded). Handles
// are recorded as they are made, so a crash midway leaves none unknown.
func (d *Daemon) subscribe(ctx context.Context, s *site) error {
	// The very first time, the mark catch-up starts from is set before any
	// subscription exists: a change QRS notifies from then on is caught up
	// even if the notification is lost (the daemon killed as it came),
	// instead of being taken for the site's history by a first catch-up
	// made after it.
	if mark, err := d.store.CatchupMark(ctx, s.alias); err != nil {
		return err
	} else if mark == "" {
		if _, err := d.catchUp(ctx, s); err != nil {
			return fmt.Errorf("the first catch-up (where to catch up from): %w", err)
		}
	}
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
			_ = d.setHandles(context.WithoutCancel(ctx), s.alias, old)
			return err
		}
		made = append(made, h)
		recorded = append(recorded, h)
		// The subscription exists now: record it even if shutdown cancels
		// ctx meanwhile, or nobody will ever delete it. If it cannot be
		// recorded (leadership lost meanwhile, the database unreachable),
		// nobody would ever know it: delete this attempt's handles.
		if err := d.setHandles(context.WithoutCancel(ctx), s.alias, recorded); err != nil {
			for _, h := range made {
				_ = s.client.Unsubscribe(context.WithoutCancel(ctx), h)
			}
			return err
		}
	}
	for _, h := range old {
		err := s.client.Unsubscribe(ctx, h)
		switch {
		case err == nil, qrs.IsNotFound(err):
		case qrs.IsRetryable(err):
			// Keep it recorded so the next renewal tries again.
			d.log.Warn("could not delete a replaced subscription; the next renewal tries again", "site", s.alias, "handle", h, "err", err)
			made = append(made, h)
		default:
			// QRS refuses it for good (a handle a restart already dropped).
			d.log.Info("a replaced subscription could not be deleted and is forgotten", "site", s.alias, "handle", h, "err", err)
		}
	}
	if err := d.setHandles(ctx, s.alias, made); err != nil {
		return err
	}
	s.mu.Lock()
	routine := len(s.handles) > 0 && !s.resubscribe // a timed renewal of a working set
	s.handles = made[:len(subscriptions)]
	s.subscribedAt = d.now()
	s.resubscribe = false
	handles := s.handles
	s.mu.Unlock()
	d.metrics.subscribes.WithLabelValues(s.alias).Inc()
	level := slog.LevelInfo
	if routine {
		level = slog.LevelDebug
	}
	d.log.Log(ctx, level, "subscribed to the site's app changes", "site", s.alias, "handles", handles)
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
		if err := d.setHandles(ctx, s.alias, left); err != nil {
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
