package qrssim

import (
	"context"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Faults is what a site does wrong on purpose (tests, benchmarks).
type Faults struct {
	// Latency is added before every answer.
	Latency time.Duration
	// BytesPerSecond caps content transfers (export downloads and uploads).
	BytesPerSecond int64
	// ErrorRate is the fraction of matching requests that fail, spread
	// evenly and deterministically (0.5: the 1st, 3rd, 5th … fail). When it
	// is 0 but ErrorStatus, ErrorCount or DropConnections is set, every
	// matching request fails.
	ErrorRate float64
	// ErrorPaths limits failures to paths with these prefixes
	// (case-insensitive, e.g. "/qrs/app/upload"); empty: every path. A
	// segment "*" matches any one segment ("/qrs/app/*/publish").
	ErrorPaths []string
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
	s.faultSeen, s.faultFailed, s.faultSkipped = 0, 0, 0
}

// shouldFail decides, for a request to path, whether it fails and how.
func (s *Site) shouldFail(path string) (fail bool, status int, drop bool, latency time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.faults
	latency = f.Latency
	rate := f.ErrorRate
	if rate == 0 && (f.ErrorStatus != 0 || f.ErrorCount > 0 || f.DropConnections) {
		rate = 1
	}
	if rate <= 0 || !matchesPrefix(path, f.ErrorPaths) {
		return false, 0, false, latency
	}
	if s.faultSkipped < f.ErrorSkip {
		s.faultSkipped++
		return false, 0, false, latency
	}
	if f.ErrorCount > 0 && s.faultFailed >= f.ErrorCount {
		return false, 0, false, latency
	}
	n := float64(s.faultSeen)
	s.faultSeen++
	// Fail when the running quota ceil(n·rate) steps up: even and repeatable.
	if math.Ceil((n+1)*rate) <= math.Ceil(n*rate) {
		return false, 0, false, latency
	}
	s.faultFailed++
	status = f.ErrorStatus
	if status == 0 {
		status = http.StatusServiceUnavailable
	}
	return true, status, f.DropConnections, latency
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
