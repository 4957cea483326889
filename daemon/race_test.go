//go:build race

package daemon

// raceEnabled: the race detector slows SQLite (compiled from C to Go) and
// TLS by an order of magnitude; tests that measure speed scale their bounds.
const raceEnabled = true
