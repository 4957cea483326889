package qrs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Download is an exported app being downloaded. Close it; closing before the
// end cancels the export token.
type Download struct {
	io.ReadCloser
	Name string // the .qvf file name
	Size int64  // -1 when unknown
}

// ExportApp exports an app (POST /qrs/app/{id}/export/{token}[?skipData=true])
// and opens its download. Each attempt uses a new token; the token of a
// failed attempt is cancelled (its export, if the server made one, is
// discarded), and a transient failure of the export or of opening the
// download makes another, within the retry budget.
func (c *Client) ExportApp(ctx context.Context, id string, skipData bool) (*Download, error) {
	k := call{method: http.MethodPost, route: "/qrs/app/{id}/export/{token}", path: "/qrs/app/" + url.PathEscape(id) + "/export"}
	if err := c.writable(k); err != nil {
		return nil, err
	}
	ctx, deadline := c.budget(ctx)
	for n := 1; ; n++ {
		d, err := c.exportOnce(ctx, id, skipData)
		if err == nil {
			return d, nil
		}
		if !c.pause(ctx, k, n, err, deadline) {
			return nil, err
		}
	}
}

func (c *Client) exportOnce(ctx context.Context, id string, skipData bool) (*Download, error) {
	token := newGUID()
	q := ""
	if skipData {
		q = query("skipData", "true")
	}
	r, p := route("/qrs/app/{id}/export/{token}", id, token)
	cancel := func() { c.cancelExport(ctx, id, token) }
	var er ExportResponse
	if err := c.sendOnce(ctx, call{method: http.MethodPost, route: r, path: p, query: q}, &er); err != nil {
		// A failure after the request was sent may hide an export that was made.
		var e *Error
		if errors.As(err, &e) && e.sent && (e.Status == 0 || e.Status >= 500) {
			cancel()
		}
		return nil, err
	}
	u, err := c.downloadURL(er.DownloadPath)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("qrs %s: export of app %s: %w", c.cfg.Alias, id, err)
	}
	resp, err := c.open(ctx, call{method: http.MethodGet, route: "/tempcontent/{export}", path: u.EscapedPath(), query: u.RawQuery, app: true})
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
	// Its own retry budget: a download is closed long after the export.
	ctx, stop := context.WithTimeout(WithRetryBudget(context.WithoutCancel(ctx), c.conn.cfg.RetryBudget), 30*time.Second)
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
// streaming body (size -1 when unknown: chunked); it never buffers it whole.
// After a failure that may have reached the server, the app is looked for
// (by name, owned by the caller, not there before the first attempt): an
// error answered after the upload was made never makes a second app. It is
// uploaded again only when body is an io.Seeker (it is rewound to where it
// started); other bodies cannot be replayed, and the error is returned.
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
		stream: body, size: size, ctype: "application/vnd.qlik.sense.app", content: true, app: true,
	}
	if err := c.writable(k); err != nil {
		return nil, err
	}
	k.rewind = func() error { return errors.New("the content cannot be read again") }
	if sk, ok := body.(io.Seeker); ok {
		if start, err := sk.Seek(0, io.SeekCurrent); err == nil {
			k.rewind = func() error {
				_, err := sk.Seek(start, io.SeekStart)
				return err
			}
		}
	}
	var a App
	if err := c.createApp(ctx, k, name, &a); err != nil {
		return nil, err
	}
	return &a, nil
}
