package actions

import (
	"context"
	"time"

	"github.com/qs-promoter/qs-promoter/qrs"
)

// Retry bounds how transient QRS failures (qrs.IsRetryable: connection
// errors, 502, 503, 504) are retried: Attempts calls at most, waiting
// Initial, then twice as long each time up to Max.
type Retry struct {
	Attempts int
	Initial  time.Duration
	Max      time.Duration
}

// DefaultRetry gives a site about a minute to come back.
var DefaultRetry = Retry{Attempts: 6, Initial: time.Second, Max: 20 * time.Second}

func (r Retry) orDefault() Retry {
	if r.Attempts <= 0 {
		return DefaultRetry
	}
	return r
}

// try calls f until it succeeds, fails permanently, the attempts are used up
// or ctx ends. Only reads and idempotent writes go through it directly;
// creations use createOnce so that a retry cannot create twice.
func try[T any](ctx context.Context, r Retry, f func(context.Context) (T, error)) (T, error) {
	return retryIf(ctx, r, qrs.IsRetryable, f)
}

// retryIf is try for failures that transient tells apart (SMTP replies, …).
func retryIf[T any](ctx context.Context, r Retry, transient func(error) bool, f func(context.Context) (T, error)) (T, error) {
	r = r.orDefault()
	wait := r.Initial
	for attempt := 1; ; attempt++ {
		v, err := f(ctx)
		if err == nil || !transient(err) || attempt >= r.Attempts || ctx.Err() != nil {
			return v, err
		}
		select {
		case <-ctx.Done():
			return v, err
		case <-time.After(wait):
		}
		wait = min(wait*2, r.Max)
	}
}

// transient marks a failure worth trying again later (engine.IsTransient)
// that carries no Transient method of its own: an SMTP 4xx reply, a mail
// server that did not answer.
type transient struct{ error }

func (e transient) Transient() bool { return true }
func (e transient) Unwrap() error   { return e.error }
