package qrs

// CONTRACT STUB: to be implemented (issue 2).

import "errors"

// ErrReadOnly is returned by a read-only client for any write.
var ErrReadOnly = errors.New("qrs: read-only client refuses writes (dry-run)")

// Error is a QRS call that answered with an error status (or not at all).
type Error struct {
	Site   string
	Method string
	Path   string // without the query string's xrfkey
	Status int    // 0 when no answer came (connection error)
	Body   string // the plain-text error body, truncated
	Err    error  // the transport error when Status is 0
}

func (e *Error) Error() string { panic("not implemented") }
func (e *Error) Unwrap() error { return e.Err }

// IsNotFound reports a 404.
func IsNotFound(err error) bool { panic("not implemented") }

// IsConflict reports a 409.
func IsConflict(err error) bool { panic("not implemented") }

// IsRetryable reports a transient failure worth retrying: a connection
// error, 502, 503 or 504.
func IsRetryable(err error) bool { panic("not implemented") }
