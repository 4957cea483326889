package qrs

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// conn is what a client and its read-only twin share: configuration,
// certificates and the connection pool.
type conn struct {
	cfg      SiteConfig
	base     *url.URL // https://host:port
	http     *http.Client
	log      *slog.Logger
	rootFile string
}

func newConn(cfg SiteConfig) (*conn, error) {
	tc, warnings, err := loadTLS(cfg, time.Now())
	if err != nil {
		return nil, err
	}
	log := cfg.Log
	for _, w := range warnings {
		log.Warn(w, "site", cfg.Alias)
	}
	if cfg.InsecureSkipVerify {
		log.Warn("the QRS server certificate is NOT verified (insecure_skip_verify); anyone between here and the server can read and change what is sent, certificates included",
			"site", cfg.Alias, "host", cfg.Host)
	}
	dialer := &net.Dialer{Timeout: cfg.ConnectTimeout, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy:                 nil, // QRS is reached directly; a proxy cannot do mutual TLS for us
		DialContext:           dialer.DialContext,
		TLSClientConfig:       tc,
		TLSHandshakeTimeout:   cfg.ConnectTimeout,
		ResponseHeaderTimeout: cfg.ResponseTimeout, // counted after the request body is sent
		ExpectContinueTimeout: time.Second,
		MaxIdleConnsPerHost:   8,
		IdleConnTimeout:       90 * time.Second,
	}
	return &conn{
		cfg:      cfg,
		base:     &url.URL{Scheme: "https", Host: net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))},
		log:      log,
		rootFile: filepath.Join(cfg.CertDir, RootCertFile),
		http: &http.Client{
			Transport: tr,
			// QRS does not redirect; following one would send our certificate elsewhere.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}, nil
}

// call describes one QRS request.
type call struct {
	method  string
	route   string // low-cardinality template for Observe: /qrs/app/{id}
	path    string // escaped path
	query   string // encoded query, without the xrfkey
	body    []byte // replayable body (JSON)
	stream  io.Reader
	size    int64 // of stream; -1 unknown
	ctype   string
	content bool // content transfer: bounded by ctx only, not by the response timeout
}

// route fills a template such as /qrs/app/{id}/copy with path-escaped
// arguments, so that an id can never change which endpoint is called.
func route(tmpl string, args ...string) (string, string) {
	var b strings.Builder
	rest := tmpl
	for _, a := range args {
		i := strings.IndexByte(rest, '{')
		j := strings.IndexByte(rest, '}')
		b.WriteString(rest[:i])
		b.WriteString(url.PathEscape(a))
		rest = rest[j+1:]
	}
	b.WriteString(rest)
	return tmpl, b.String()
}

// query encodes name/value pairs in order, spaces as %20 (not +, which not
// every server decodes as a space).
func query(pairs ...string) string {
	var b strings.Builder
	for i := 0; i+1 < len(pairs); i += 2 {
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(escape(pairs[i]))
		b.WriteByte('=')
		b.WriteString(escape(pairs[i+1]))
	}
	return b.String()
}

func escape(s string) string { return strings.ReplaceAll(url.QueryEscape(s), "+", "%20") }

const xrfAlphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

// newXrfkey returns a fresh random 16-character key (crypto/rand, unbiased).
func newXrfkey() string {
	b := make([]byte, 16)
	max := big.NewInt(int64(len(xrfAlphabet)))
	for i := range b {
		n, err := rand.Int(rand.Reader, max)
		if err != nil {
			panic("qrs: crypto/rand failed: " + err.Error()) // never happens on supported platforms
		}
		b[i] = xrfAlphabet[n.Int64()]
	}
	return string(b)
}

// newGUID returns a random (version 4) GUID.
func newGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func idempotent(method string) bool {
	return method == http.MethodGet || method == http.MethodPut || method == http.MethodDelete
}

// send makes a call, retrying transient failures of idempotent methods, and
// decodes a JSON answer into out (nil: the answer is discarded).
func (c *Client) send(ctx context.Context, k call, out any) error {
	resp, err := c.retry(ctx, k, func(ctx context.Context) (*http.Response, error) {
		if k.content {
			return c.attempt(ctx, k)
		}
		// Bound the whole attempt, answer included; the transport bounds the
		// wait for headers of content calls.
		actx, cancel := context.WithTimeout(ctx, c.conn.cfg.ResponseTimeout)
		defer cancel()
		resp, err := c.attempt(actx, k)
		if err != nil {
			if ctx.Err() == nil && actx.Err() != nil {
				err = c.errorf(k, fmt.Errorf("no answer within the response timeout (%s)", c.conn.cfg.ResponseTimeout))
			}
			return nil, err
		}
		// Read the answer while the attempt's deadline still holds.
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, c.errorf(k, fmt.Errorf("reading the answer: %w", err))
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		return resp, nil
	})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("qrs %s: %s %s: the answer is not the expected JSON: %w", c.conn.cfg.Alias, k.method, k.logPath(), err)
	}
	return nil
}

// open makes a content call and returns the response with its body open.
func (c *Client) open(ctx context.Context, k call) (*http.Response, error) {
	k.content = true
	return c.retry(ctx, k, func(ctx context.Context) (*http.Response, error) { return c.attempt(ctx, k) })
}

func (k call) logPath() string {
	if k.query == "" {
		return k.path
	}
	return k.path + "?" + k.query
}

func (c *Client) errorf(k call, err error) *Error {
	return &Error{Site: c.conn.cfg.Alias, Method: k.method, Path: k.logPath(), Err: err}
}

// retry runs one attempt, or several with backoff and jitter when the method
// is idempotent and the failure transient.
func (c *Client) retry(ctx context.Context, k call, attempt func(context.Context) (*http.Response, error)) (*http.Response, error) {
	if c.readOnly && k.method != http.MethodGet {
		return nil, c.errorf(k, ErrReadOnly)
	}
	attempts := 1
	if idempotent(k.method) && k.stream == nil {
		attempts = c.conn.cfg.MaxAttempts
	}
	for i := 1; ; i++ {
		resp, err := attempt(ctx)
		if err == nil || i >= attempts || !IsRetryable(err) || ctx.Err() != nil {
			return resp, err
		}
		delay := c.backoff(i, err)
		c.conn.log.Warn("QRS call failed, retrying", "site", c.conn.cfg.Alias, "method", k.method,
			"route", k.route, "attempt", i, "delay", delay, "err", err)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
	}
}

// backoff is exponential with full jitter, capped; a server's Retry-After is
// honoured up to the cap.
func (c *Client) backoff(attempt int, err error) time.Duration {
	const maxDelay = 10 * time.Second
	var e *Error
	if errors.As(err, &e) && e.retryAfter > 0 {
		return min(e.retryAfter, maxDelay)
	}
	d := c.conn.cfg.RetryBackoff << (attempt - 1)
	if d <= 0 || d > maxDelay {
		d = maxDelay
	}
	return d/2 + mrand.N(d/2+1)
}

// attempt makes one HTTP request with a fresh xrfkey and turns any status
// but 2xx into an *Error.
func (c *Client) attempt(ctx context.Context, k call) (*http.Response, error) {
	key := newXrfkey()
	q := "xrfkey=" + key
	if k.query != "" {
		q = k.query + "&" + q
	}
	var body io.Reader
	switch {
	case k.stream != nil:
		// The caller owns its reader: the transport must not close it.
		body = io.NopCloser(k.stream)
	case k.body != nil:
		body = bytes.NewReader(k.body)
	}
	req, err := http.NewRequestWithContext(ctx, k.method, c.conn.base.String()+k.path+"?"+q, body)
	if err != nil {
		return nil, c.errorf(k, err)
	}
	if k.stream != nil {
		req.ContentLength = k.size
		if k.size < 0 {
			req.ContentLength = -1 // chunked
		}
		// Let the server refuse (403, 404) before a large body is sent.
		req.Header.Set("Expect", "100-continue")
	}
	req.Header.Set("X-Qlik-Xrfkey", key)
	req.Header.Set("X-Qlik-User", c.conn.cfg.User)
	req.Header.Set("Accept", "application/json")
	if k.ctype != "" {
		req.Header.Set("Content-Type", k.ctype)
	}

	start := time.Now()
	resp, err := c.conn.http.Do(req)
	status := 0
	if resp != nil {
		status = resp.StatusCode
	}
	if obs := c.conn.cfg.Observe; obs != nil {
		obs(c.conn.cfg.Alias, k.method, k.route, status, time.Since(start))
	}
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its message repeats the URL, xrfkey included
		}
		return nil, c.errorf(k, c.conn.explainTLS(err))
	}
	if status/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	text, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody+1))
	msg := string(text)
	if len(text) > maxErrorBody {
		msg = string(text[:maxErrorBody]) + "…"
	}
	e := &Error{Site: c.conn.cfg.Alias, Method: k.method, Path: k.logPath(), Status: status, Body: msg}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		e.retryAfter = time.Duration(s) * time.Second
	}
	return nil, e
}
