package actions

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/textproto"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/qs-promoter/qs-promoter/qrs"
	"github.com/qs-promoter/qs-promoter/yamlread"
)

// The webhook formats: how a message is shaped for an endpoint.
const (
	FormatTeams = "teams" // a message with an Adaptive Card attachment (Teams Workflows)
	FormatSlack = "slack" // {"text", "blocks"} (Slack incoming webhooks)
	FormatJSON  = "json"  // the message as a plain JSON document (any endpoint)
)

// WebhookFormats lists the formats.
var WebhookFormats = []string{FormatTeams, FormatSlack, FormatJSON}

// WebhookConfig is one endpoint of the configuration's webhooks:. Its URL
// and header values are secrets: never in the file, read from environment
// variables or files (a Windows service inherits no shell's environment)
// when the endpoint is built.
type WebhookConfig struct {
	Name        string            `yaml:"name"`         // what policies (to:), logs and the audit call it
	URLEnv      string            `yaml:"url_env"`      // environment variable holding the URL
	URLFile     string            `yaml:"url_file"`     // file holding the URL (trailing newline ignored)
	Format      string            `yaml:"format"`       // teams | slack | json
	HeadersEnv  map[string]string `yaml:"headers_env"`  // extra header → environment variable holding its value
	HeadersFile map[string]string `yaml:"headers_file"` // extra header → file holding its value
	Timeout     time.Duration     `yaml:"timeout"`      // each POST; default 10s
}

// WebhookConfigError is a problem with one key of a WebhookConfig ("format",
// "url_env", "headers_env.X-Key"), so that the configuration can place it.
type WebhookConfigError struct {
	Key string
	Msg string
}

func (e *WebhookConfigError) Error() string { return e.Msg }

// DefaultWebhookTimeout bounds one POST.
const DefaultWebhookTimeout = 10 * time.Second

var webhookNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*$`)

// Check validates the settings that need no secret.
func (c WebhookConfig) Check() error {
	switch {
	case c.Name == "":
		return &WebhookConfigError{"name", "name is required (a short name such as chat, policies name it in to:)"}
	case !webhookNameRE.MatchString(c.Name):
		return &WebhookConfigError{"name", fmt.Sprintf("name %q may hold only letters, digits, '-' and '_'", c.Name)}
	case c.Format == "":
		return &WebhookConfigError{"format", "format is required: teams (a Teams Workflows webhook), slack or json"}
	case !slices.Contains(WebhookFormats, c.Format):
		return &WebhookConfigError{"format", fmt.Sprintf("format %q is not one of teams, slack, json%s", c.Format, yamlread.Suggest(c.Format, WebhookFormats))}
	case c.URLEnv != "" && c.URLFile != "":
		return &WebhookConfigError{"url_file", "give url_env or url_file, not both"}
	case c.URLEnv == "" && c.URLFile == "":
		return &WebhookConfigError{"name", fmt.Sprintf("webhook %s: set url_env (an environment variable holding the URL) or url_file; the URL is a secret and is never written in this file", c.Name)}
	case c.Timeout < 0:
		return &WebhookConfigError{"timeout", "timeout must not be negative"}
	}
	for _, headers := range []struct {
		key string
		m   map[string]string
	}{{"headers_env", c.HeadersEnv}, {"headers_file", c.HeadersFile}} {
		for _, h := range sortedHeaders(headers.m) {
			key := headers.key + "." + h
			switch canon := textproto.CanonicalMIMEHeaderKey(h); {
			case !validHeaderName(h):
				return &WebhookConfigError{key, fmt.Sprintf("%q is not a header name", h)}
			case canon == "Content-Type" || canon == "Content-Length" || canon == "Host":
				return &WebhookConfigError{key, fmt.Sprintf("%s is set by qs-promoter", canon)}
			case headers.key == "headers_file" && hasHeader(c.HeadersEnv, h):
				return &WebhookConfigError{key, fmt.Sprintf("header %s is in headers_env too: give it once", h)}
			case headers.m[h] == "":
				return &WebhookConfigError{key, fmt.Sprintf("header %s: name the %s holding its value", h, map[bool]string{true: "environment variable", false: "file"}[headers.key == "headers_env"])}
			}
		}
	}
	return nil
}

// Webhook is an endpoint ready to post to. Its URL and header values are
// kept out of every error, log line and plan: it is known by its name.
type Webhook struct {
	name, format string
	url          string // "" for an endpoint built for plans only
	insecure     bool   // http://
	headers      http.Header
	secrets      []string // what redact removes, longest first
	timeout      time.Duration
	client       *http.Client
	retry        webhookRetry
	sleep        func(context.Context, time.Duration) error // injected by tests
}

// webhookRetry bounds the retries inside one step: a short budget, after
// which the failure is returned as transient for the execution's retry.
type webhookRetry struct {
	attempts int
	initial  time.Duration // doubled after each attempt
	maxWait  time.Duration // a longer Retry-After ends the step's retries
}

var defaultWebhookRetry = webhookRetry{attempts: 3, initial: 2 * time.Second, maxWait: 30 * time.Second}

// NewWebhook checks cfg and reads its secrets. It does not connect.
func NewWebhook(cfg WebhookConfig) (*Webhook, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	w := WebhookForPlans(cfg)
	key := "url_env"
	if cfg.URLFile != "" {
		key = "url_file"
	}
	raw, err := readSecret(cfg.URLEnv, cfg.URLFile)
	if err != nil {
		return nil, &WebhookConfigError{key, fmt.Sprintf("webhook %s: the URL: %v", cfg.Name, err)}
	}
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		// Not the URL itself: it is a secret.
		return nil, &WebhookConfigError{key, fmt.Sprintf("webhook %s: the URL in %s is not an http(s) URL (https://…)", cfg.Name, secretSource(cfg.URLEnv, cfg.URLFile))}
	}
	w.url, w.insecure = u.String(), u.Scheme == "http"
	w.secrets = append(w.secrets, u.String(), u.Host, u.Hostname())
	if i := strings.IndexAny(w.url, "?#"); i > 0 {
		w.secrets = append(w.secrets, w.url[:i])
	}
	w.headers = http.Header{}
	for _, headers := range []struct {
		key string
		m   map[string]string
		env bool
	}{{"headers_env", cfg.HeadersEnv, true}, {"headers_file", cfg.HeadersFile, false}} {
		for _, h := range sortedHeaders(headers.m) {
			env, file := headers.m[h], ""
			if !headers.env {
				env, file = "", headers.m[h]
			}
			v, err := readSecret(env, file)
			if err != nil {
				return nil, &WebhookConfigError{headers.key + "." + h, fmt.Sprintf("webhook %s: header %s: %v", cfg.Name, h, err)}
			}
			if strings.ContainsAny(v, "\r\n") {
				return nil, &WebhookConfigError{headers.key + "." + h, fmt.Sprintf("webhook %s: header %s: its value holds a line break", cfg.Name, h)}
			}
			w.headers.Set(h, v)
			w.secrets = append(w.secrets, v)
		}
	}
	sort.Slice(w.secrets, func(i, j int) bool { return len(w.secrets[i]) > len(w.secrets[j]) })
	return w, nil
}

// WebhookForPlans is an endpoint known by its name and format only, for
// dry-runs: no secret is read, and it cannot post.
func WebhookForPlans(cfg WebhookConfig) *Webhook {
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultWebhookTimeout
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	return &Webhook{name: cfg.Name, format: cfg.Format, timeout: timeout, retry: defaultWebhookRetry, sleep: sleepContext,
		client: &http.Client{Timeout: timeout, Transport: transport,
			// A redirect would carry the secret elsewhere; endpoints answer directly.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// Name returns the endpoint's name.
func (w *Webhook) Name() string { return w.name }

// Format returns teams, slack or json.
func (w *Webhook) Format() string { return w.format }

// Insecure reports an http:// URL (an internal relay): the daemon warns.
func (w *Webhook) Insecure() bool { return w.insecure }

func secretSource(env, file string) string {
	if env != "" {
		return "environment variable " + env
	}
	return "file " + file
}

func sortedHeaders(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for h := range m {
		out = append(out, h)
	}
	sort.Strings(out)
	return out
}

func hasHeader(m map[string]string, h string) bool {
	for k := range m {
		if strings.EqualFold(k, h) {
			return true
		}
	}
	return false
}

// validHeaderName accepts an HTTP token.
func validHeaderName(h string) bool {
	if h == "" {
		return false
	}
	for _, r := range h {
		if r > 0x7e || r <= ' ' || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r) {
			return false
		}
	}
	return true
}

func sleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// WebhookError is a POST to a webhook endpoint that failed. It names the
// endpoint, never its URL or headers.
type WebhookError struct {
	Webhook    string        // the endpoint's name
	Status     int           // 0 when no answer came
	Body       string        // the endpoint's answer, one line, truncated (secrets removed)
	Err        error         // why no answer came (secrets removed)
	RetryAfter time.Duration // the endpoint's Retry-After, if it gave one
	Attempts   int           // POSTs made by the step

	transient bool
}

func (e *WebhookError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "webhook %s: ", e.Webhook)
	switch {
	case e.Status == 0:
		b.WriteString(fmt.Sprint(e.Err))
	case e.Status >= 300 && e.Status < 400:
		fmt.Fprintf(&b, "answered %d %s (a redirect, which is not followed): check the URL", e.Status, http.StatusText(e.Status))
	default:
		fmt.Fprintf(&b, "%d %s", e.Status, http.StatusText(e.Status))
		if e.Body != "" {
			b.WriteString(": " + e.Body)
		}
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " (%d attempts)", e.Attempts)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (it asks to wait %s)", e.RetryAfter)
	}
	return b.String()
}

// Unwrap returns why no answer came.
func (e *WebhookError) Unwrap() error { return e.Err }

// Transient reports a failure worth retrying later: no answer (a timeout,
// a refused connection), 408, 429 or a 5xx. A 4xx, a redirect or a
// certificate the endpoint's host cannot prove are permanent.
func (e *WebhookError) Transient() bool { return e.transient }

// IsRetryable reports a failure that a later retry of the execution may
// overcome: every failure err holds (several joined by errors.Join) is a
// transient webhook failure (WebhookError.Transient) or a transient QRS
// failure (qrs.IsRetryable).
func IsRetryable(err error) bool {
	if err == nil {
		return false
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs := j.Unwrap()
		for _, e := range errs {
			if !IsRetryable(e) {
				return false
			}
		}
		return len(errs) > 0
	}
	var we *WebhookError
	if errors.As(err, &we) {
		return we.Transient()
	}
	return qrs.IsRetryable(err)
}

// RetryAfter returns the longest Retry-After among the webhook failures in
// err (0: none asked for a wait).
func RetryAfter(err error) time.Duration {
	var d time.Duration
	var walk func(error)
	walk = func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		var we *WebhookError
		if errors.As(err, &we) {
			d = max(d, we.RetryAfter)
		}
	}
	walk(err)
	return d
}

// Post sends body (JSON) to the endpoint, retrying transient failures
// within a short budget; a longer wait is left to the execution's retry.
// The error is a *WebhookError.
func (w *Webhook) Post(ctx context.Context, body []byte, log *slog.Logger) error {
	if w.url == "" {
		return &WebhookError{Webhook: w.name, Err: errors.New("this endpoint was built for plans only and cannot post")}
	}
	wait := w.retry.initial
	for attempt := 1; ; attempt++ {
		err := w.post(ctx, body)
		if err == nil {
			return nil
		}
		err.Attempts = attempt
		if !err.transient || attempt >= w.retry.attempts || ctx.Err() != nil {
			return err
		}
		d := wait
		if err.RetryAfter > 0 {
			d = err.RetryAfter
		}
		if d > w.retry.maxWait {
			return err
		}
		log.Warn("webhook: transient failure, retrying", "webhook", w.name, "attempt", attempt, "wait", d, "err", err.Error())
		if w.sleep(ctx, d) != nil {
			return err
		}
		wait *= 2
	}
}

// maxAnswer is how much of an endpoint's answer an error keeps.
const maxAnswer = 300

func (w *Webhook) post(ctx context.Context, body []byte) *WebhookError {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return &WebhookError{Webhook: w.name, Err: errors.New(w.redact(err.Error()))}
	}
	for k, v := range w.headers {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "qs-promoter")
	resp, err := w.client.Do(req)
	if err != nil {
		return w.transportError(ctx, err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	e := &WebhookError{Webhook: w.name, Status: resp.StatusCode, RetryAfter: retryAfter(resp.Header.Get("Retry-After"), time.Now())}
	e.transient = resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode >= 500
	text := w.redact(oneLine(strings.TrimSpace(string(answer))))
	if len([]rune(text)) > maxAnswer {
		text = string([]rune(text)[:maxAnswer]) + "…"
	}
	e.Body = text
	return e
}

// transportError explains a POST that got no answer, without the URL
// (net/http puts it in every error).
func (w *Webhook) transportError(ctx context.Context, err error) *WebhookError {
	e := &WebhookError{Webhook: w.name, transient: true}
	var ue *url.Error
	inner := err
	if errors.As(err, &ue) {
		inner = ue.Err
	}
	var (
		verify  *tls.CertificateVerificationError
		unknown x509.UnknownAuthorityError
		host    x509.HostnameError
	)
	switch {
	case ctx.Err() != nil:
		e.transient = false
		e.Err = fmt.Errorf("cancelled: %w", ctx.Err())
		return e
	case errors.As(err, &verify), errors.As(err, &unknown), errors.As(err, &host):
		e.transient = false
		e.Err = fmt.Errorf("the endpoint's TLS certificate cannot be verified: %s", w.redact(inner.Error()))
		return e
	case ue != nil && ue.Timeout():
		e.Err = fmt.Errorf("no answer within %s", w.timeout)
		return e
	}
	e.Err = errors.New(w.redact(inner.Error()))
	return e
}

// redact replaces the endpoint's URL, host and header values in s by its name.
func (w *Webhook) redact(s string) string {
	for _, secret := range w.secrets {
		if secret != "" {
			s = strings.ReplaceAll(s, secret, "<webhook "+w.name+">")
		}
	}
	return s
}

// retryAfter reads a Retry-After header: seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now).Round(time.Second)
	}
	return 0
}
