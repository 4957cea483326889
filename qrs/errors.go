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
type Error struct {
	Site   string
	Method string
	Path   string // without the query string's xrfkey
	Status int    // 0 when no answer came (connection error)
	Body   string // the plain-text error body, truncated
	Err    error  // the transport error when Status is 0

	retryAfter time.Duration // the server's Retry-After, if any
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

// IsRetryable reports a transient failure worth retrying: a connection
// error, 502, 503 or 504. Certificate problems, refused writes and a
// cancelled context are not transient.
func IsRetryable(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Status {
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	case 0:
		return e.Err != nil && transientTransport(e.Err)
	}
	return false
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
