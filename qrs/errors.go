package qrs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
)

// ErrReadOnly is returned by a read-only client for any write. The client
// returns it wrapped in an *Error naming the refused call, so test it with
// errors.Is(err, ErrReadOnly).
var ErrReadOnly = errors.New("qrs: read-only client refuses writes (dry-run)")

// maxErrorBody is how much of an error body an *Error keeps.
const maxErrorBody = 1024

// Error is a QRS call that answered with an error status (or not at all).
// Transient tells whether trying again later may succeed; IsRetryable asks
// the same of any error.
type Error struct {
	Site   string
	Method string
	Path   string // without the query string's xrfkey
	Status int    // 0 when no answer came (connection error)
	Body   string // the plain-text error body, truncated
	Err    error  // the transport error when Status is 0

	retryAfter time.Duration // the server's Retry-After, if any
	sent       bool          // the request was written: the server may have acted on it
}

// Error says which site and request failed, and how.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "qrs %s: %s %s: ", e.Site, e.Method, e.Path)
	if e.Status == 0 {
		b.WriteString(fmt.Sprint(e.Err))
		return b.String()
	}
	fmt.Fprintf(&b, "%d %s", e.Status, http.StatusText(e.Status))
	if body := strings.TrimSpace(e.Body); body != "" {
		b.WriteString(": ")
		b.WriteString(body)
	}
	return b.String()
}

// Unwrap returns the transport error (nil when the server answered).
func (e *Error) Unwrap() error { return e.Err }

func statusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// IsNotFound reports a 404.
func IsNotFound(err error) bool { return statusOf(err) == http.StatusNotFound }

// IsConflict reports a 409.
func IsConflict(err error) bool { return statusOf(err) == http.StatusConflict }

// Transient reports a failure worth trying again later: no answer
// (connection refused or reset, a timeout, a TLS handshake cut short), any
// 5xx but 501 and 505 (the server cannot do this at all), 408, 429, and 409
// on a PUT (someone saved the entity in between). Permanent: every other
// 4xx (400 bad parameters, 401, 403, 404), certificate problems, refused
// writes (read-only client) and a cancelled context.
func (e *Error) Transient() bool {
	switch s := e.Status; {
	case s == 0:
		return e.Err != nil && transientTransport(e.Err)
	case s == http.StatusRequestTimeout, s == http.StatusTooManyRequests:
		return true
	case s == http.StatusConflict:
		return e.Method == http.MethodPut
	case s >= 500:
		return s != http.StatusNotImplemented && s != http.StatusHTTPVersionNotSupported
	}
	return false
}

// RetryAfter is the wait the server asked for with Retry-After (429, 503),
// 0 when it named none.
func (e *Error) RetryAfter() time.Duration { return e.retryAfter }

// notDone reports a failure that certainly left the server unchanged: the
// request was never written (refused connection, failed handshake), or the
// server said it did not take it (429). A write may be repeated after it
// without first checking whether it took effect.
func (e *Error) notDone() bool {
	return (e.Status == 0 && !e.sent && e.Err != nil && transientTransport(e.Err)) || e.Status == http.StatusTooManyRequests
}

// IsRetryable reports a transient failure (see Error.Transient): an *Error
// anywhere in err's chain that is transient. The client has already spent
// its retry budget on it; a caller that can wait longer (a durable queue)
// tries the whole operation again later.
func IsRetryable(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Transient()
}

// transientTransport tells a connection that failed (refused, reset, timed
// out) from one that can never succeed as configured.
func transientTransport(err error) bool {
	if errors.Is(err, ErrReadOnly) || errors.Is(err, context.Canceled) {
		return false
	}
	var cert *certError
	if errors.As(err, &cert) || isTLSRejection(err) {
		return false
	}
	return true
}

// certError is a TLS failure explained for an administrator.
type certError struct {
	msg string
	err error
}

func (e *certError) Error() string { return e.msg }
func (e *certError) Unwrap() error { return e.err }

// isTLSRejection reports a TLS alert sent by the server, such as a refused
// client certificate.
func isTLSRejection(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "remote error" {
		return true
	}
	var alert tls.AlertError
	return errors.As(err, &alert)
}

// explainTLS rewrites certificate failures in words an administrator can act
// on; other errors are returned unchanged.
func (c *conn) explainTLS(err error) error {
	var (
		verify   *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
	)
	switch {
	case errors.As(err, &hostname):
		return &certError{err: err, msg: fmt.Sprintf(
			"site %q: the server certificate is not valid for the name %q (%v); "+
				"set server_name to a name the certificate holds, or connect using that host name",
			c.cfg.Alias, hostname.Host, err)}
	case errors.As(err, &unknown), errors.As(err, &invalid), errors.As(err, &verify):
		return &certError{err: err, msg: fmt.Sprintf(
			"site %q: the server certificate could not be verified against %s (%v); "+
				"export root.pem from this site's QMC (Certificates, with the client certificate) into the folder",
			c.cfg.Alias, c.rootFile, err)}
	case isTLSRejection(err):
		return &certError{err: err, msg: fmt.Sprintf(
			"site %q: the server rejected the TLS connection (%v); "+
				"check that client.pem and client_key.pem were exported from this site's QMC",
			c.cfg.Alias, err)}
	}
	return err
}
