package engine

import "fmt"

// IsTransient reports whether a step's failure is worth trying again later:
// an error in err's tree has a Transient() bool method that says so (a QRS
// client error, an SMTP or webhook failure the actions mark). On each path
// through the tree the first such method met decides, so a wrapper can
// overrule what it wraps; a tree is transient when any of its paths is: a
// promotion that failed on one site for good and on another for a moment
// is worth another attempt for the latter. An error that says nothing is
// permanent.
func IsTransient(err error) bool {
	switch e := err.(type) {
	case nil:
		return false
	case interface{ Transient() bool }:
		return e.Transient()
	case interface{ Unwrap() error }:
		return IsTransient(e.Unwrap())
	case interface{ Unwrap() []error }:
		for _, x := range e.Unwrap() {
			if IsTransient(x) {
				return true
			}
		}
	}
	return false
}

// RetryError ends an execution, with ExecOptions.RetryTransient, at a step
// that failed transiently: the caller runs the execution again later. The
// steps that finished before it are checkpointed and are not run again;
// the failed step runs again, resuming from its journal.
type RetryError struct {
	Policy string
	Step   string // the step's id
	Err    error  // the step's failure
}

func (e *RetryError) Error() string {
	return fmt.Sprintf("step %s/%s failed transiently: %v", e.Policy, e.Step, e.Err)
}

// Unwrap returns the step's failure.
func (e *RetryError) Unwrap() error { return e.Err }

// Transient is true: the execution is worth another attempt.
func (e *RetryError) Transient() bool { return true }
