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
	"net/http/httptrace"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
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
	content bool         // content transfer: bounded by progress (StallTimeout), not by the response timeout
	rewind  func() error // puts stream back at its start for another attempt; nil: it cannot be
	app     bool         // moves an app's file (an export's download, an upload): SiteConfig.Moved counts it
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

// send makes a call and decodes a JSON answer into out (nil: the answer is
// discarded). GETs and DELETEs are repeated on transient failures, within
// the retry budget; a DELETE that answers 404 after a failed attempt is
// done (the failed attempt deleted it). Other writes go through write.
func (c *Client) send(ctx context.Context, k call, out any) error {
	if err := c.writable(k); err != nil {
		return err
	}
	ctx, deadline := c.budget(ctx)
	repeat := k.method == http.MethodGet || k.method == http.MethodDelete
	for n := 1; ; n++ {
		err := c.sendOnce(ctx, k, out)
		if err == nil {
			return nil
		}
		if n > 1 && k.method == http.MethodDelete && IsNotFound(err) {
			return nil
		}
		if !repeat || !c.pause(ctx, k, n, err, deadline) {
			return err
		}
	}
}

// write makes a call that must not be repeated blindly: once the failed
// attempt may have reached the server, took reports whether it took effect
// (and fills the result itself when it did); only if it did not is the call
// made again, within the retry budget. took nil: the call is repeated only
// when the failed attempt certainly changed nothing (it was never sent).
func (c *Client) write(ctx context.Context, k call, out any, took func(context.Context) (bool, error)) error {
	if err := c.writable(k); err != nil {
		return err
	}
	ctx, deadline := c.budget(ctx)
	for n := 1; ; n++ {
		err := c.sendOnce(ctx, k, out)
		if err == nil || !IsRetryable(err) {
			return err
		}
		var e *Error
		unchanged := errors.As(err, &e) && e.notDone()
		if !unchanged && took == nil {
			return err
		}
		again := c.pause(ctx, k, n, err, deadline)
		if !unchanged {
			// Checked even when the budget is spent: a caller told "failed"
			// must be able to trust that nothing was made.
			done, verr := took(ctx)
			if verr != nil {
				c.conn.log.Warn("QRS call failed and whether it took effect is unknown", "site", c.conn.cfg.Alias,
					"method", k.method, "route", k.route, "err", err, "check_err", verr)
				return err
			}
			if done {
				c.conn.log.Info("QRS call answered an error but had taken effect", "site", c.conn.cfg.Alias,
					"method", k.method, "route", k.route, "err", err)
				return nil
			}
		}
		if !again {
			return err
		}
		if k.rewind != nil {
			if rerr := k.rewind(); rerr != nil {
				return err
			}
		}
	}
}

// writable refuses writes on a read-only client.
func (c *Client) writable(k call) error {
	if c.readOnly && k.method != http.MethodGet {
		return c.errorf(k, ErrReadOnly)
	}
	return nil
}

// sendOnce makes one attempt and decodes its answer.
func (c *Client) sendOnce(ctx context.Context, k call, out any) error {
	resp, err := c.exchange(ctx, k)
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

// exchange makes one attempt. An ordinary call is bounded, answer
// included, by the response timeout and its answer is read whole; a content
// call is bounded by its progress (transfer) and its body is left open.
func (c *Client) exchange(ctx context.Context, k call) (*http.Response, error) {
	if k.content {
		return c.transfer(ctx, k)
	}
	actx, cancel := context.WithTimeout(ctx, c.conn.cfg.ResponseTimeout)
	defer cancel()
	resp, err := c.attempt(actx, k)
	if err != nil {
		var e *Error
		var timeout net.Error
		sentTimeout := errors.As(err, &e) && e.sent && errors.As(err, &timeout) && timeout.Timeout() // the transport's header timeout
		if ctx.Err() == nil && (actx.Err() != nil || sentTimeout) {
			e := c.errorf(k, fmt.Errorf("no answer within the response timeout (%s)", c.conn.cfg.ResponseTimeout))
			e.sent = true
			return nil, e
		}
		return nil, err
	}
	// Read the answer while the attempt's deadline still holds.
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		e := c.errorf(k, fmt.Errorf("reading the answer: %w", err))
		e.sent = true
		return nil, e
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

// open makes a content call (one attempt) and returns the response with its
// body open.
func (c *Client) open(ctx context.Context, k call) (*http.Response, error) {
	if err := c.writable(k); err != nil {
		return nil, err
	}
	k.content = true
	return c.exchange(ctx, k)
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

type budgetKey struct{}

// WithRetryBudget returns a context under which QRS calls start no retry
// later than d from now (0: every call is attempted once). Calls made to
// complete another (the checks of a write) share its budget.
func WithRetryBudget(ctx context.Context, d time.Duration) context.Context {
	return context.WithValue(ctx, budgetKey{}, time.Now().Add(d))
}

// budget returns the time after which no retry starts: the context's, or
// RetryBudget from now (recorded in the returned context for the calls made
// to complete this one).
func (c *Client) budget(ctx context.Context) (context.Context, time.Time) {
	if t, ok := ctx.Value(budgetKey{}).(time.Time); ok {
		return ctx, t
	}
	t := time.Now().Add(c.conn.cfg.RetryBudget)
	return context.WithValue(ctx, budgetKey{}, t), t
}

// pause waits before attempt n+1 of a call that failed with err: false (at
// once) when err is permanent, the attempts or the budget are spent, or ctx
// ends.
func (c *Client) pause(ctx context.Context, k call, n int, err error, deadline time.Time) bool {
	if !IsRetryable(err) || n >= c.conn.cfg.MaxAttempts || ctx.Err() != nil {
		return false
	}
	delay := c.backoff(n, err)
	if time.Now().Add(delay).After(deadline) {
		return false
	}
	c.conn.log.Warn("QRS call failed, retrying", "site", c.conn.cfg.Alias, "method", k.method,
		"route", k.route, "attempt", n, "delay", delay, "err", err)
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// backoff is exponential with jitter (between half and all of the step),
// capped; a server's Retry-After is honoured.
func (c *Client) backoff(n int, err error) time.Duration {
	const maxDelay = 10 * time.Second
	var e *Error
	if errors.As(err, &e) && e.retryAfter > 0 {
		return e.retryAfter
	}
	d := c.conn.cfg.RetryBackoff << (n - 1)
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

	// Whether the request was written tells a failure that changed nothing
	// (never sent) from one the server may have acted on.
	var wrote atomic.Bool
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		WroteHeaders: func() { wrote.Store(true) },
	}))

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
		e := c.errorf(k, c.conn.explainTLS(err))
		e.sent = wrote.Load()
		return nil, e
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
	e := &Error{Site: c.conn.cfg.Alias, Method: k.method, Path: k.logPath(), Status: status, Body: msg, sent: true}
	e.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	return nil, e
}

// parseRetryAfter reads Retry-After as seconds or as an HTTP date; 0 when
// absent or unreadable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		return time.Duration(max(s, 0)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
