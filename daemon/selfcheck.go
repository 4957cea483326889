package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
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
