package qrssim

import (
	"context"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Faults is what a site does wrong on purpose (tests, benchmarks).
type Faults struct {
	// Latency is added before every answer.
	Latency time.Duration
	// BytesPerSecond caps each content transfer (export download, upload)
	// on its own.
	BytesPerSecond int64
	// LinkBytesPerSecond is the site's link: one bandwidth shared by every
	// content transfer to and from the site at once, as a WAN link is (two
	// uploads and an export each move at about a third of it). Both caps
	// may be set; 0: none.
	LinkBytesPerSecond int64
	// ErrorRate is the fraction of matching requests that fail, spread
	// evenly and deterministically (0.5: the 1st, 3rd, 5th … fail), or at
	// random with Seed. When it is 0 but ErrorStatus, ErrorCount or
	// DropConnections is set, every matching request fails.
	ErrorRate float64
	// Seed, when not 0, draws failures (and AfterWork) at random from a
	// generator seeded with it: the same requests in the same order fail
	// the same way in every run.
	Seed uint64
	// ErrorPaths limits failures to paths with these prefixes
	// (case-insensitive, e.g. "/qrs/app/upload"); empty: every path. A
	// segment "*" matches any one segment ("/qrs/app/*/publish").
	ErrorPaths []string
	// ErrorMethods limits failures to these methods (GET, POST …); empty: all.
	ErrorMethods []string
	// ErrorSkip lets the first ErrorSkip matching requests through before
	// failures start (ErrorSkip 1: the second publish fails, not the first).
	ErrorSkip int
	// ErrorStatus is the status of a failure (default 503).
	ErrorStatus int
	// ErrorCount, when positive, stops failures after that many
	// (ErrorCount 1: the next matching request fails, later ones succeed).
	ErrorCount int
	// DropConnections makes failures close the connection without an answer.
	DropConnections bool
	// AfterWork is the fraction of failures that come after the request was
	// carried out (the change made, its notifications fired, the answer
	// thrown away): 0 none, 1 every one; spread like ErrorRate.
	AfterWork float64
	// RetryAfter is sent with failures as Retry-After (whole seconds, rounded up).
	RetryAfter time.Duration
	// RequestsPerSecond throttles the site: requests beyond this rate (a
	// burst of one second's worth is allowed) get 429 with Retry-After.
	RequestsPerSecond float64
	// DuplicateNotifications sends every notification twice (on top of
	// SiteOptions.NotifyCopies).
	DuplicateNotifications bool
}

// fault is what happens to one request.
type fault struct {
	fail       bool
	status     int
	drop       bool // close the connection instead of answering
	after      bool // fail only once the request's work is done
	retryAfter time.Duration
	latency    time.Duration
}

// Request is one entry of a site's request log.
type Request struct {
	Method   string
	Path     string
	Query    string // raw query string
	Status   int    // 0: the connection was dropped (fault)
	User     string // X-Qlik-User as sent
	Time     time.Time
	Duration time.Duration
}

// Param returns a query parameter, its name matched case-insensitively.
func (r Request) Param(name string) string {
	q, _ := url.ParseQuery(r.Query)
	for k, v := range q {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

// maxRequestLog bounds the request log of a long-running simulator.
const maxRequestLog = 100000

// SetFaults replaces the site's faults (the zero Faults: none).
func (s *Site) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
	s.faultSeen, s.faultFailed, s.faultSkipped, s.faultAfter = 0, 0, 0, 0
	s.faultRand = nil
	if f.Seed != 0 {
		s.faultRand = rand.New(rand.NewPCG(f.Seed, f.Seed^0x9e3779b97f4a7c15))
	}
	s.tokens, s.tokensAt = max(f.RequestsPerSecond, 1), time.Now()
}

// decide says what happens to a request.
func (s *Site) decide(method, path string) fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.faults
	out := fault{latency: f.Latency}
	if f.RequestsPerSecond > 0 && !s.takeToken(f.RequestsPerSecond) {
		out.fail, out.status = true, http.StatusTooManyRequests
		out.retryAfter = max(time.Second, time.Duration(math.Ceil(1/f.RequestsPerSecond))*time.Second)
		return out
	}
	rate := f.ErrorRate
	if rate == 0 && (f.ErrorStatus != 0 || f.ErrorCount > 0 || f.DropConnections) {
		rate = 1
	}
	if rate <= 0 || !matchesPrefix(path, f.ErrorPaths) || (len(f.ErrorMethods) > 0 && !containsFold(f.ErrorMethods, method)) {
		return out
	}
	if s.faultSkipped < f.ErrorSkip {
		s.faultSkipped++
		return out
	}
	if f.ErrorCount > 0 && s.faultFailed >= f.ErrorCount {
		return out
	}
	if !s.draw(rate, &s.faultSeen) {
		return out
	}
	s.faultFailed++
	out.fail, out.status, out.drop, out.retryAfter = true, f.ErrorStatus, f.DropConnections, f.RetryAfter
	if out.status == 0 {
		out.status = http.StatusServiceUnavailable
	}
	out.after = f.AfterWork > 0 && s.draw(f.AfterWork, &s.faultAfter)
	return out
}

// draw decides one event of probability p: at random with a seed, else
// when the running quota ceil(n·p) steps up (even and repeatable). n counts
// the draws. The lock is held.
func (s *Site) draw(p float64, n *int) bool {
	if p >= 1 {
		return true
	}
	if s.faultRand != nil {
		return s.faultRand.Float64() < p
	}
	k := float64(*n)
	*n++
	return math.Ceil((k+1)*p) > math.Ceil(k*p)
}

// takeToken spends one request of the throttle's budget, refilled at rate
// per second up to one second's worth. The lock is held.
func (s *Site) takeToken(rate float64) bool {
	now := time.Now()
	s.tokens = min(max(rate, 1), s.tokens+now.Sub(s.tokensAt).Seconds()*rate)
	s.tokensAt = now
	if s.tokens < 1 {
		return false
	}
	s.tokens--
	return true
}

// matchesPrefix reports whether path starts with one of the prefixes,
// segment by segment: "*" matches any one segment, and the prefix's last
// segment may be the start of the path's.
func matchesPrefix(path string, prefixes []string) bool {
	if len(prefixes) == 0 {
		return true
	}
	segs := strings.Split(strings.ToLower(path), "/")
	for _, p := range prefixes {
		if segmentPrefix(segs, strings.Split(strings.ToLower(p), "/")) {
			return true
		}
	}
	return false
}

func segmentPrefix(segs, pre []string) bool {
	if len(pre) > len(segs) {
		return false
	}
	for i, p := range pre {
		switch {
		case p == "*":
		case i == len(pre)-1:
			return strings.HasPrefix(segs[i], p)
		case p != segs[i]:
			return false
		}
	}
	return true
}

func (s *Site) bytesPerSecond() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults.BytesPerSecond
}

func (s *Site) linkBytesPerSecond() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults.LinkBytesPerSecond
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Requests returns a copy of the request log.
func (s *Site) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.reqs...)
}

// Writes returns the logged requests that are not GET or HEAD.
func (s *Site) Writes() []Request {
	var out []Request
	for _, r := range s.Requests() {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			out = append(out, r)
		}
	}
	return out
}

// ResetRequests empties the request log.
func (s *Site) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs = nil
}

func (s *Site) logRequest(r Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.reqs) >= maxRequestLog {
		s.reqs = append(s.reqs[:0:0], s.reqs[len(s.reqs)/2:]...)
	}
	s.reqs = append(s.reqs, r)
}
