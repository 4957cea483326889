package qrs

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// DefaultUser is the X-Qlik-User sent when the configuration names none.
const DefaultUser = "UserDirectory=INTERNAL;UserId=sa_api"

// Defaults for the zero values of SiteConfig.
const (
	DefaultPort            = 4242
	DefaultConnectTimeout  = 10 * time.Second
	DefaultResponseTimeout = 2 * time.Minute
	DefaultMaxAttempts     = 6
	DefaultRetryBackoff    = 100 * time.Millisecond
	DefaultRetryBudget     = 10 * time.Second
)

// updateAttempts bounds how often UpdateApp re-reads after a 409.
const updateAttempts = 5

// SiteConfig is how to reach one QRS site.
type SiteConfig struct {
	Alias              string // the site's friendly name (test, prod); defaults to Host
	Host               string
	Port               int    // default 4242
	CertDir            string // holds client.pem, client_key.pem, root.pem as the QMC exports them
	ServerName         string // expected name in the server certificate when it differs from Host
	HubHost            string // host name in hub links (https://<HubHost>/sense/app/<id>); default Host
	InsecureSkipVerify bool   // do not verify the server (logs a warning)
	User               string // X-Qlik-User header value; DefaultUser when empty. "DIR\user" is accepted too.
	ConnectTimeout     time.Duration
	ResponseTimeout    time.Duration // for ordinary calls (not content transfer)
	Log                *slog.Logger
	// Observe, when set, is called after every request (for metrics).
	Observe func(site, method, route string, status int, d time.Duration)
	// Moved, when set, is called as app content moves (for metrics):
	// direction "upload" for bytes sent, "download" for exports received.
	Moved func(site, direction string, n int)

	// StallTimeout cuts off a content transfer (upload, download, a list
	// read as it arrives) when no byte has moved for this long; its total
	// time is never limited. Default: ResponseTimeout.
	StallTimeout time.Duration
	// MaxAttempts bounds the attempts of one call failing transiently;
	// default 6. Reads and deletes are repeated; other writes only after
	// checking that the failed attempt did not take effect (see README).
	MaxAttempts int
	// RetryBackoff is the first retry's delay (doubling, with jitter between half and all of it); default 100ms.
	RetryBackoff time.Duration
	// RetryBudget is how long after its start a call may still begin a
	// retry; default 10s. Longer outages are the caller's to wait out.
	RetryBudget time.Duration
}

// Client talks to one QRS site. It is safe for concurrent use.
type Client struct {
	cfg      SiteConfig
	readOnly bool
	conn     *conn
}

// NewClient loads the site's certificates and returns a client. Certificate
// problems are reported naming the site, the file and what to do.
func NewClient(cfg SiteConfig) (*Client, error) {
	if cfg.Host == "" {
		return nil, fmt.Errorf("qrs: site %q: host is empty: name the Qlik Sense server that runs the repository service", cfg.Alias)
	}
	if cfg.Alias == "" {
		cfg.Alias = cfg.Host
	}
	if cfg.Port == 0 {
		cfg.Port = DefaultPort
	}
	if cfg.Port < 1 || cfg.Port > 65535 {
		return nil, fmt.Errorf("qrs: site %q: port %d is not a TCP port (QRS listens on 4242)", cfg.Alias, cfg.Port)
	}
	if cfg.CertDir == "" {
		return nil, fmt.Errorf("qrs: site %q: the certificate folder is not set: name the folder holding %s, %s and %s exported from the QMC",
			cfg.Alias, ClientCertFile, ClientKeyFile, RootCertFile)
	}
	user, err := normalizeUser(cfg.User)
	if err != nil {
		return nil, fmt.Errorf("qrs: site %q: %w", cfg.Alias, err)
	}
	cfg.User = user
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	if cfg.ResponseTimeout <= 0 {
		cfg.ResponseTimeout = DefaultResponseTimeout
	}
	if cfg.StallTimeout <= 0 {
		cfg.StallTimeout = cfg.ResponseTimeout
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.RetryBackoff <= 0 {
		cfg.RetryBackoff = DefaultRetryBackoff
	}
	if cfg.RetryBudget <= 0 {
		cfg.RetryBudget = DefaultRetryBudget
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	c, err := newConn(cfg)
	if err != nil {
		return nil, fmt.Errorf("qrs: %w", err)
	}
	return &Client{cfg: cfg, conn: c}, nil
}

// normalizeUser turns "DIR\user" into the header form QRS expects.
func normalizeUser(u string) (string, error) {
	u = strings.TrimSpace(u)
	switch {
	case u == "":
		return DefaultUser, nil
	case strings.Contains(strings.ToLower(u), "userdirectory=") && strings.Contains(strings.ToLower(u), "userid="):
		return u, nil
	}
	dir, id, ok := strings.Cut(u, `\`)
	if !ok || dir == "" || id == "" || strings.ContainsAny(u, ";=") {
		return "", fmt.Errorf(`user %q: write it as DIRECTORY\userid (INTERNAL\sa_api) or UserDirectory=INTERNAL;UserId=sa_api`, u)
	}
	return "UserDirectory=" + dir + ";UserId=" + id, nil
}

// ReadOnly returns a client sharing c's connections that refuses every write
// (any method but GET) with an *Error wrapping ErrReadOnly, before anything
// is sent. Dry-runs use it.
func (c *Client) ReadOnly() *Client {
	return &Client{cfg: c.cfg, readOnly: true, conn: c.conn}
}

// IsReadOnly reports whether the client refuses writes.
func (c *Client) IsReadOnly() bool { return c.readOnly }

// Alias returns the site's alias.
func (c *Client) Alias() string { return c.cfg.Alias }

// Host returns the site's QRS host name.
func (c *Client) Host() string { return c.cfg.Host }

// HubHost returns the host name users reach the site's hub at, for links
// https://<hub host>/sense/app/<id> (the QRS host unless configured).
func (c *Client) HubHost() string {
	if c.cfg.HubHost != "" {
		return c.cfg.HubHost
	}
	return c.cfg.Host
}

func (c *Client) get(ctx context.Context, tmpl string, args []string, q string, out any) error {
	r, p := route(tmpl, args...)
	return c.send(ctx, call{method: http.MethodGet, route: r, path: p, query: q}, out)
}

func jsonCall(method, tmpl string, args []string, q string, v any) (call, error) {
	r, p := route(tmpl, args...)
	k := call{method: method, route: r, path: p, query: q}
	if v != nil {
		b, err := json.Marshal(v)
		if err != nil {
			return k, fmt.Errorf("qrs: encoding the %s %s body: %w", method, r, err)
		}
		k.body, k.ctype = b, "application/json"
	}
	return k, nil
}

// About calls GET /qrs/about (a cheap health probe).
func (c *Client) About(ctx context.Context) (*About, error) {
	var a About
	if err := c.get(ctx, "/qrs/about", nil, "", &a); err != nil {
		return nil, err
	}
	return &a, nil
}
