package qrs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// EachApp calls fn with every app matching the filter (GET
// /qrs/app/full?filter=…; nil: all), each as soon as it is decoded from the
// answer: the list is never held, so reading 50,000 apps takes the memory
// of one. fn's error stops the listing and is returned as is. A transient
// failure before the first app is repeated within the retry budget, as any
// read; once fn has seen apps it is returned (repeating would show them
// again), and the caller lists again later.
func (c *Client) EachApp(ctx context.Context, f *Filter, fn func(*App) error) error {
	return each(ctx, c, "/qrs/app/full", f, fn, nil)
}

// list reads a whole entity list; it is decoded element by element, so the
// answer's text is never held besides the entities. A transient failure
// halfway lists again from the start, within the retry budget.
func list[T any](ctx context.Context, c *Client, tmpl string, f *Filter) ([]T, error) {
	out := []T{}
	err := each(ctx, c, tmpl, f, func(v *T) error {
		out = append(out, *v)
		return nil
	}, func() { out = out[:0] })
	if err != nil {
		return nil, err
	}
	return out, nil
}

// each GETs an entity list and calls fn with each element as it is decoded.
// restart, when not nil, is called before a failed listing is repeated from
// the start after fn has seen elements; nil: such a failure is returned.
func each[T any](ctx context.Context, c *Client, tmpl string, f *Filter, fn func(*T) error, restart func()) error {
	if err := f.Err(); err != nil {
		return err
	}
	q := ""
	if f != nil {
		q = query("filter", f.String())
	}
	r, p := route(tmpl)
	// A content call: bounded by progress (the stall timeout), not by the
	// response timeout, so a long list over a slow link is never cut off
	// while it arrives.
	k := call{method: http.MethodGet, route: r, path: p, query: q, content: true}
	ctx, deadline := c.budget(ctx)
	for n := 1; ; n++ {
		seen, stopped, err := eachOnce(ctx, c, k, fn)
		if err == nil || stopped {
			return err
		}
		if seen > 0 && restart == nil {
			return fmt.Errorf("%w (the list was cut off after %d entries)", err, seen)
		}
		if !c.pause(ctx, k, n, err, deadline) {
			return err
		}
		if seen > 0 {
			restart()
		}
	}
}

// eachOnce makes one attempt; stopped says the error is fn's own.
func eachOnce[T any](ctx context.Context, c *Client, k call, fn func(*T) error) (seen int, stopped bool, err error) {
	resp, err := c.exchange(ctx, k)
	if err != nil {
		return 0, false, err
	}
	defer resp.Body.Close()
	bad := func(err error) error {
		var syntax *json.SyntaxError
		var typ *json.UnmarshalTypeError
		var qe *Error
		switch {
		case errors.As(err, &syntax), errors.As(err, &typ):
			return fmt.Errorf("qrs %s: %s %s: the answer is not the expected JSON: %w", c.conn.cfg.Alias, k.method, k.logPath(), err)
		case errors.As(err, &qe):
			return err // the body stalled (see watchedBody)
		}
		e := c.errorf(k, fmt.Errorf("reading the answer: %w", err))
		e.sent = true
		return e
	}
	dec := json.NewDecoder(resp.Body)
	tok, err := dec.Token()
	if err != nil {
		return 0, false, bad(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return 0, false, fmt.Errorf("qrs %s: %s %s: the answer is not the expected JSON list (it starts with %v)", c.conn.cfg.Alias, k.method, k.logPath(), tok)
	}
	for dec.More() {
		var v T
		if err := dec.Decode(&v); err != nil {
			return seen, false, bad(err)
		}
		seen++
		if err := fn(&v); err != nil {
			return seen, true, err
		}
	}
	if _, err := dec.Token(); err != nil {
		return seen, false, bad(err)
	}
	return seen, false, nil
}
