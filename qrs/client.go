package qrs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultUser is the X-Qlik-User sent when the configuration names none.
const DefaultUser = "UserDirectory=INTERNAL;UserId=sa_api"

// Defaults for the zero values of SiteConfig.
const (
	DefaultPort            = 4242
	DefaultConnectTimeout  = 10 * time.Second
	DefaultResponseTimeout = 2 * time.Minute
	DefaultMaxAttempts     = 4
	DefaultRetryBackoff    = 250 * time.Millisecond
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

	// MaxAttempts bounds the attempts of an idempotent call (GET, PUT,
	// DELETE) failing transiently; default 4. POSTs are attempted once.
	MaxAttempts int
	// RetryBackoff is the first retry's delay (doubling, with jitter); default 250ms.
	RetryBackoff time.Duration
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
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.RetryBackoff <= 0 {
		cfg.RetryBackoff = DefaultRetryBackoff
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

// list GETs an entity list with an optional filter.
func (c *Client) list(ctx context.Context, tmpl string, f *Filter, out any) error {
	if err := f.Err(); err != nil {
		return err
	}
	q := ""
	if f != nil {
		q = query("filter", f.String())
	}
	return c.get(ctx, tmpl, nil, q, out)
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
	var as []App
	if err := c.list(ctx, "/qrs/app/full", f, &as); err != nil {
		return nil, err
	}
	return as, nil
}

// UpdateApp reads the app, lets change modify it, and PUTs the whole entity
// back with the modifiedDate it read; fields App does not model survive
// (see overlay). On 409 it re-reads and re-applies change, up to 5 reads in
// all. When change leaves the app as it was, nothing is written (no
// notification fires) and the app as read is returned. An error from change
// aborts the update and is returned as is.
func (c *Client) UpdateApp(ctx context.Context, id string, change func(*App) error) (*App, error) {
	var conflict error
	for range updateAttempts {
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
			return app, nil
		}
		body, err := overlay(app.Raw(), before, after, read)
		if err != nil {
			return nil, fmt.Errorf("qrs %s: updating app %s: %w", c.cfg.Alias, id, err)
		}
		r, p := route("/qrs/app/{id}", id)
		var out App
		err = c.send(ctx, call{method: http.MethodPut, route: r, path: p, body: body, ctype: "application/json"}, &out)
		if err == nil {
			return &out, nil
		}
		if !IsConflict(err) {
			return nil, err
		}
		conflict = err
		c.conn.log.Info("app changed while we updated it; reading it again", "site", c.cfg.Alias, "app", id)
	}
	return nil, fmt.Errorf("app %s kept changing while we updated it (%d attempts): %w", id, updateAttempts, conflict)
}

// DeleteApp deletes an app (DELETE /qrs/app/{id}).
func (c *Client) DeleteApp(ctx context.Context, id string) error {
	r, p := route("/qrs/app/{id}", id)
	return c.send(ctx, call{method: http.MethodDelete, route: r, path: p}, nil)
}

// CopyApp copies an app server-side (POST /qrs/app/{id}/copy?name=…); the
// caller owns the copy. name "" keeps the source's name.
func (c *Client) CopyApp(ctx context.Context, id, name string) (*App, error) {
	q := ""
	if name != "" {
		q = query("name", name)
	}
	r, p := route("/qrs/app/{id}/copy", id)
	var a App
	if err := c.send(ctx, call{method: http.MethodPost, route: r, path: p, query: q}, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// PublishApp publishes an app to a stream (PUT /qrs/app/{id}/publish?stream=…&name=…);
// name "" keeps the app's name.
func (c *Client) PublishApp(ctx context.Context, id, streamID, name string) (*App, error) {
	q := query("stream", streamID)
	if name != "" {
		q += "&" + query("name", name)
	}
	r, p := route("/qrs/app/{id}/publish", id)
	var a App
	if err := c.send(ctx, call{method: http.MethodPut, route: r, path: p, query: q}, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// ReplaceApp replaces target with the content of source (PUT /qrs/app/{source}/replace?app={target}).
func (c *Client) ReplaceApp(ctx context.Context, sourceID, targetID string) (*App, error) {
	r, p := route("/qrs/app/{id}/replace", sourceID)
	var a App
	if err := c.send(ctx, call{method: http.MethodPut, route: r, path: p, query: query("app", targetID)}, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// ReloadApp asks for a reload (POST /qrs/app/{id}/reload).
func (c *Client) ReloadApp(ctx context.Context, id string) error {
	r, p := route("/qrs/app/{id}/reload", id)
	return c.send(ctx, call{method: http.MethodPost, route: r, path: p}, nil)
}

// Download is an exported app being downloaded. Close it; closing before the
// end cancels the export token.
type Download struct {
	io.ReadCloser
	Name string // the .qvf file name
	Size int64  // -1 when unknown
}

// ExportApp exports an app (POST /qrs/app/{id}/export/{token}[?skipData=true])
// and opens its download. On any failure the export token is cancelled.
func (c *Client) ExportApp(ctx context.Context, id string, skipData bool) (*Download, error) {
	token := newGUID()
	q := ""
	if skipData {
		q = query("skipData", "true")
	}
	r, p := route("/qrs/app/{id}/export/{token}", id, token)
	if c.readOnly {
		return nil, c.errorf(call{method: http.MethodPost, path: p, query: q}, ErrReadOnly)
	}
	cancel := func() { c.cancelExport(ctx, id, token) }
	var er ExportResponse
	if err := c.send(ctx, call{method: http.MethodPost, route: r, path: p, query: q}, &er); err != nil {
		// A lost answer may hide an export that was made.
		if statusOf(err) == 0 {
			cancel()
		}
		return nil, err
	}
	u, err := c.downloadURL(er.DownloadPath)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("qrs %s: export of app %s: %w", c.cfg.Alias, id, err)
	}
	resp, err := c.open(ctx, call{method: http.MethodGet, route: "/tempcontent/{export}", path: u.EscapedPath(), query: u.RawQuery})
	if err != nil {
		cancel()
		return nil, err
	}
	return &Download{
		ReadCloser: &download{body: resp.Body, cancel: cancel, left: resp.ContentLength},
		Name:       strings.TrimSpace(path.Base(u.Path)),
		Size:       resp.ContentLength,
	}, nil
}

// downloadURL checks that an export's download path is on this server.
func (c *Client) downloadURL(p string) (*url.URL, error) {
	ref, err := url.Parse(strings.TrimSpace(p))
	if err != nil || p == "" {
		return nil, fmt.Errorf("the download path %q cannot be read: %v", p, err)
	}
	u := c.conn.base.ResolveReference(ref)
	if u.Host != c.conn.base.Host || u.Scheme != "https" {
		return nil, fmt.Errorf("the download path %q is not on this server (%s); refusing to send the certificate there", p, c.conn.base.Host)
	}
	return u, nil
}

// cancelExport deletes an export token, best effort: it runs even when ctx
// is already cancelled, which is often why the export is being cancelled.
func (c *Client) cancelExport(ctx context.Context, id, token string) {
	ctx, stop := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer stop()
	r, p := route("/qrs/app/{id}/export/{token}", id, token)
	if err := c.send(ctx, call{method: http.MethodDelete, route: r, path: p}, nil); err != nil && !IsNotFound(err) {
		c.conn.log.Warn("could not cancel an export token", "site", c.cfg.Alias, "app", id, "token", token, "err", err)
	}
}

// download cancels its export token when closed before the end.
type download struct {
	body   io.ReadCloser
	cancel func()
	mu     sync.Mutex
	left   int64 // bytes not yet read; negative when the size is unknown
	eof    bool
	closed bool
}

func (d *download) Read(p []byte) (int, error) {
	n, err := d.body.Read(p)
	d.mu.Lock()
	if d.left >= 0 {
		d.left -= int64(n)
	}
	// A reader that stops at Size bytes (io.CopyN) has read it all too.
	if err == io.EOF || d.left == 0 {
		d.eof = true
	}
	d.mu.Unlock()
	return n, err
}

func (d *download) Close() error {
	err := d.body.Close()
	d.mu.Lock()
	cancel := !d.eof && !d.closed
	d.closed = true
	d.mu.Unlock()
	if cancel {
		d.cancel()
	}
	return err
}

// UploadApp uploads a .qvf as a new app (POST /qrs/app/upload?name=…&keepdata=…),
// streaming body (size -1 when unknown: chunked). Never buffers it whole, and
// never retries (the body cannot be replayed, and a second app could result).
func (c *Client) UploadApp(ctx context.Context, name string, keepData bool, body io.Reader, size int64) (*App, error) {
	if strings.TrimSpace(name) == "" {
		return nil, fmt.Errorf("qrs %s: uploading an app needs a name", c.cfg.Alias)
	}
	if body == nil {
		return nil, fmt.Errorf("qrs %s: uploading app %q: no content", c.cfg.Alias, name)
	}
	r, p := route("/qrs/app/upload")
	k := call{
		method: http.MethodPost, route: r, path: p,
		query:  query("name", name, "keepdata", strconv.FormatBool(keepData)),
		stream: body, size: size, ctype: "application/vnd.qlik.sense.app", content: true,
	}
	var a App
	if err := c.send(ctx, k, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// Streams lists streams (GET /qrs/stream/full?filter=…).
func (c *Client) Streams(ctx context.Context, f *Filter) ([]Stream, error) {
	var ss []Stream
	if err := c.list(ctx, "/qrs/stream/full", f, &ss); err != nil {
		return nil, err
	}
	return ss, nil
}

// Stream reads one stream (GET /qrs/stream/{id}).
func (c *Client) Stream(ctx context.Context, id string) (*Stream, error) {
	var s Stream
	if err := c.get(ctx, "/qrs/stream/{id}", []string{id}, "", &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Users lists users (GET /qrs/user/full?filter=…).
func (c *Client) Users(ctx context.Context, f *Filter) ([]User, error) {
	var us []User
	if err := c.list(ctx, "/qrs/user/full", f, &us); err != nil {
		return nil, err
	}
	return us, nil
}

// User reads one user (GET /qrs/user/{id}).
func (c *Client) User(ctx context.Context, id string) (*User, error) {
	var u User
	if err := c.get(ctx, "/qrs/user/{id}", []string{id}, "", &u); err != nil {
		return nil, err
	}
	return &u, nil
}

// UserByEmail finds users whose e-mail attribute matches (case-insensitive).
// It asks QRS to filter on attributes.attributeValue and checks the answer;
// a server that rejects that filter (400) gets a full user list instead.
func (c *Client) UserByEmail(ctx context.Context, email string) ([]User, error) {
	email = strings.TrimSpace(email)
	if email == "" {
		return nil, nil
	}
	us, err := c.Users(ctx, Eq("attributes.attributeValue", email))
	if statusOf(err) == http.StatusBadRequest {
		us, err = c.Users(ctx, nil)
	}
	if err != nil {
		return nil, err
	}
	var out []User
	for _, u := range us {
		for _, a := range u.Attributes {
			if strings.EqualFold(a.AttributeType, "email") && strings.EqualFold(strings.TrimSpace(a.AttributeValue), email) {
				out = append(out, u)
				break
			}
		}
	}
	return out, nil
}

// Tags lists tags (GET /qrs/tag/full?filter=…).
func (c *Client) Tags(ctx context.Context, f *Filter) ([]Tag, error) {
	var ts []Tag
	if err := c.list(ctx, "/qrs/tag/full", f, &ts); err != nil {
		return nil, err
	}
	return ts, nil
}

// CreateTag creates a tag (POST /qrs/tag).
func (c *Client) CreateTag(ctx context.Context, name string) (*Tag, error) {
	if strings.TrimSpace(name) == "" {
		return nil, fmt.Errorf("qrs %s: a tag needs a name", c.cfg.Alias)
	}
	k, err := jsonCall(http.MethodPost, "/qrs/tag", nil, "", Tag{Name: name})
	if err != nil {
		return nil, err
	}
	var t Tag
	if err := c.send(ctx, k, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// CustomPropertyDefinitions lists custom property definitions
// (GET /qrs/custompropertydefinition/full?filter=…).
func (c *Client) CustomPropertyDefinitions(ctx context.Context, f *Filter) ([]CustomPropertyDefinition, error) {
	var ds []CustomPropertyDefinition
	if err := c.list(ctx, "/qrs/custompropertydefinition/full", f, &ds); err != nil {
		return nil, err
	}
	return ds, nil
}

// CreateCustomPropertyDefinition creates one (POST /qrs/custompropertydefinition).
func (c *Client) CreateCustomPropertyDefinition(ctx context.Context, d CustomPropertyDefinition) (*CustomPropertyDefinition, error) {
	if strings.TrimSpace(d.Name) == "" {
		return nil, fmt.Errorf("qrs %s: a custom property definition needs a name", c.cfg.Alias)
	}
	if d.ValueType == "" {
		d.ValueType = "Text"
	}
	if d.ChoiceValues == nil {
		d.ChoiceValues = []string{}
	}
	if d.ObjectTypes == nil {
		d.ObjectTypes = []string{}
	}
	k, err := jsonCall(http.MethodPost, "/qrs/custompropertydefinition", nil, "", d)
	if err != nil {
		return nil, err
	}
	var out CustomPropertyDefinition
	if err := c.send(ctx, k, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Subscription is a change subscription (POST /qrs/notification).
type Subscription struct {
	Name         string     // entity type: "App"
	ChangeType   ChangeType // ChangeUpdate …
	PropertyName string     // optional: only changes of this property ("!name": all but it)
	Filter       *Filter    // optional
	URL          string     // the callback URL QRS will POST to
}

// Subscribe adds a change subscription and returns its handle. QRS makes a
// new subscription each time: delete handles you replace.
func (c *Client) Subscribe(ctx context.Context, s Subscription) (handle string, err error) {
	if s.Name == "" || s.URL == "" {
		return "", fmt.Errorf("qrs %s: a subscription needs an entity name (App) and a callback URL", c.cfg.Alias)
	}
	if err := s.Filter.Err(); err != nil {
		return "", err
	}
	pairs := []string{"name", s.Name}
	if s.ChangeType != ChangeUndefined {
		pairs = append(pairs, "changetype", s.ChangeType.String())
	}
	if s.PropertyName != "" {
		pairs = append(pairs, "propertyname", s.PropertyName)
	}
	if s.Filter != nil {
		pairs = append(pairs, "filter", s.Filter.String())
	}
	// QRS wants the URL as a JSON string literal, quotes included.
	k, err := jsonCall(http.MethodPost, "/qrs/notification", nil, query(pairs...), s.URL)
	if err != nil {
		return "", err
	}
	var out struct {
		Value string `json:"value"`
	}
	if err := c.send(ctx, k, &out); err != nil {
		return "", err
	}
	if out.Value == "" {
		return "", errors.New("qrs " + c.cfg.Alias + ": subscribing: the answer holds no handle")
	}
	return out.Value, nil
}

// Unsubscribe removes a subscription (DELETE /qrs/notification?handle=…).
func (c *Client) Unsubscribe(ctx context.Context, handle string) error {
	r, p := route("/qrs/notification")
	return c.send(ctx, call{method: http.MethodDelete, route: r, path: p, query: query("handle", handle)}, nil)
}
