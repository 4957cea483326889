package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// instanceHeader carries a random ID of this daemon process on /healthz, so
// that the callback self-check can tell this daemon from another process
// answering at the same address.
const instanceHeader = "X-Qs-Promoter-Instance"

func newInstanceID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// checkCallbackURL calls callback_url's /healthz from this machine. It cannot
// prove that QRS reaches the URL (firewalls sit in between), but a typo in
// the host or port, or a URL that reaches another process, would otherwise
// go unnoticed: subscribing succeeds and no notification ever arrives.
func (d *Daemon) checkCallbackURL(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	url := d.cfg.CallbackURL + "/healthz"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("callback_url %s does not answer from this machine (%v): QRS cannot reach it either; check its host and port against listen (%s)", d.cfg.CallbackURL, err, d.cfg.Listen)
	}
	resp.Body.Close()
	if resp.Header.Get(instanceHeader) != d.instance {
		return fmt.Errorf("callback_url %s reaches another process, not this daemon (GET /healthz answered %s): check its host and port against listen (%s)", d.cfg.CallbackURL, resp.Status, d.cfg.Listen)
	}
	return nil
}

// callbackCheck is the outcome of the callback self-check, for readiness:
// while callback_url is not known to reach this daemon, notifications may
// never arrive, so the daemon is not ready.
type callbackCheck struct {
	mu      sync.Mutex
	checked bool
	err     error
}

func (c *callbackCheck) set(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.checked, c.err = true, err
}

// problem says what keeps the callback from being ready, "" if nothing.
func (c *callbackCheck) problem() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case !c.checked:
		return "callback_url: not checked yet"
	case c.err != nil:
		return c.err.Error()
	}
	return ""
}

// keepCheckingCallback runs the self-check at start and, while it fails,
// again every health_interval (a name that did not resolve yet, a proxy
// still starting), until it succeeds or ctx ends. A failure is logged once.
func (d *Daemon) keepCheckingCallback(ctx context.Context) {
	logged := ""
	for {
		err := d.checkCallbackURL(ctx)
		if ctx.Err() != nil {
			return
		}
		d.callback.set(err)
		if err == nil {
			if logged != "" {
				d.log.Info("callback_url reaches this daemon now", "callback_url", d.cfg.CallbackURL)
			}
			return
		}
		if err.Error() != logged {
			d.log.Warn("notifications will not arrive; not ready until callback_url reaches this daemon", "err", err)
			logged = err.Error()
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(d.cfg.HealthInterval):
		}
	}
}
