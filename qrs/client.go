package qrs

// CONTRACT STUB: the signatures below are the client's API that the rest of
// the project codes against. The bodies are to be implemented (issue 2).

import (
	"context"
	"io"
	"log/slog"
	"time"
)

// DefaultUser is the X-Qlik-User sent when the configuration names none.
const DefaultUser = "UserDirectory=INTERNAL;UserId=sa_api"

// SiteConfig is how to reach one QRS site.
type SiteConfig struct {
	Alias              string // the site's friendly name (test, prod)
	Host               string
	Port               int    // default 4242
	CertDir            string // holds client.pem, client_key.pem, root.pem as the QMC exports them
	ServerName         string // expected name in the server certificate when it differs from Host
	InsecureSkipVerify bool   // do not verify the server (logs a warning)
	User               string // X-Qlik-User header value; DefaultUser when empty. "DIR\user" is accepted too.
	ConnectTimeout     time.Duration
	ResponseTimeout    time.Duration // for ordinary calls (not content transfer)
	Log                *slog.Logger
	// Observe, when set, is called after every request (for metrics).
	Observe func(site, method, route string, status int, d time.Duration)
}

// Client talks to one QRS site. It is safe for concurrent use.
type Client struct {
	cfg      SiteConfig
	readOnly bool
}

// NewClient loads the site's certificates and returns a client. Certificate
// problems are reported naming the site, the file and what to do.
func NewClient(cfg SiteConfig) (*Client, error) { panic("not implemented") }

// ReadOnly returns a client sharing c's connections that refuses every write
// (any method but GET) with ErrReadOnly. Dry-runs use it.
func (c *Client) ReadOnly() *Client { panic("not implemented") }

// Alias returns the site's alias.
func (c *Client) Alias() string { return c.cfg.Alias }

// Host returns the site's host name (for hub links https://<host>/sense/app/<id>).
func (c *Client) Host() string { return c.cfg.Host }

// About calls GET /qrs/about (a cheap health probe).
func (c *Client) About(ctx context.Context) (*About, error) { panic("not implemented") }

// App reads one app (GET /qrs/app/{id}); IsNotFound(err) when it does not exist.
func (c *Client) App(ctx context.Context, id string) (*App, error) { panic("not implemented") }

// Apps lists apps matching the filter (GET /qrs/app/full?filter=…); nil filter: all.
func (c *Client) Apps(ctx context.Context, f *Filter) ([]App, error) { panic("not implemented") }

// UpdateApp reads the app, lets change modify it, and PUTs the whole entity
// back with its modifiedDate; fields App does not model survive. On 409 it
// re-reads and re-applies change, a bounded number of times.
func (c *Client) UpdateApp(ctx context.Context, id string, change func(*App) error) (*App, error) {
	panic("not implemented")
}

// DeleteApp deletes an app (DELETE /qrs/app/{id}).
func (c *Client) DeleteApp(ctx context.Context, id string) error { panic("not implemented") }

// CopyApp copies an app server-side (POST /qrs/app/{id}/copy?name=…); the
// caller owns the copy.
func (c *Client) CopyApp(ctx context.Context, id, name string) (*App, error) {
	panic("not implemented")
}

// PublishApp publishes an app to a stream (PUT /qrs/app/{id}/publish?stream=…&name=…);
// name "" keeps the app's name.
func (c *Client) PublishApp(ctx context.Context, id, streamID, name string) (*App, error) {
	panic("not implemented")
}

// ReplaceApp replaces target with the content of source (PUT /qrs/app/{source}/replace?app={target}).
func (c *Client) ReplaceApp(ctx context.Context, sourceID, targetID string) (*App, error) {
	panic("not implemented")
}

// ReloadApp asks for a reload (POST /qrs/app/{id}/reload).
func (c *Client) ReloadApp(ctx context.Context, id string) error { panic("not implemented") }

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
	panic("not implemented")
}

// UploadApp uploads a .qvf as a new app (POST /qrs/app/upload?name=…&keepdata=…),
// streaming body (size -1 when unknown: chunked). Never buffers it whole.
func (c *Client) UploadApp(ctx context.Context, name string, keepData bool, body io.Reader, size int64) (*App, error) {
	panic("not implemented")
}

// Streams lists streams (GET /qrs/stream/full?filter=…).
func (c *Client) Streams(ctx context.Context, f *Filter) ([]Stream, error) { panic("not implemented") }

// Stream reads one stream (GET /qrs/stream/{id}).
func (c *Client) Stream(ctx context.Context, id string) (*Stream, error) { panic("not implemented") }

// Users lists users (GET /qrs/user/full?filter=…).
func (c *Client) Users(ctx context.Context, f *Filter) ([]User, error) { panic("not implemented") }

// User reads one user (GET /qrs/user/{id}).
func (c *Client) User(ctx context.Context, id string) (*User, error) { panic("not implemented") }

// UserByEmail finds users whose e-mail attribute matches (case-insensitive).
func (c *Client) UserByEmail(ctx context.Context, email string) ([]User, error) {
	panic("not implemented")
}

// Tags lists tags (GET /qrs/tag/full?filter=…).
func (c *Client) Tags(ctx context.Context, f *Filter) ([]Tag, error) { panic("not implemented") }

// CreateTag creates a tag (POST /qrs/tag).
func (c *Client) CreateTag(ctx context.Context, name string) (*Tag, error) { panic("not implemented") }

// CustomPropertyDefinitions lists custom property definitions.
func (c *Client) CustomPropertyDefinitions(ctx context.Context, f *Filter) ([]CustomPropertyDefinition, error) {
	panic("not implemented")
}

// CreateCustomPropertyDefinition creates one (POST /qrs/custompropertydefinition).
func (c *Client) CreateCustomPropertyDefinition(ctx context.Context, d CustomPropertyDefinition) (*CustomPropertyDefinition, error) {
	panic("not implemented")
}

// Subscription is a change subscription (POST /qrs/notification).
type Subscription struct {
	Name         string     // entity type: "App"
	ChangeType   ChangeType // ChangeUpdate …
	PropertyName string     // optional: only changes of this property ("!name": all but it)
	Filter       *Filter    // optional
	URL          string     // the callback URL QRS will POST to
}

// Subscribe adds a change subscription and returns its handle.
func (c *Client) Subscribe(ctx context.Context, s Subscription) (handle string, err error) {
	panic("not implemented")
}

// Unsubscribe removes a subscription (DELETE /qrs/notification?handle=…).
func (c *Client) Unsubscribe(ctx context.Context, handle string) error { panic("not implemented") }
