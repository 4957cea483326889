package actions

import (
	"fmt"
	"io"
	"sync/atomic"
)

// Progress of long transfers (exports, uploads), for the log and the
// daemon's progress reports.

// countReader counts bytes read into n and reports progress.
type countReader struct {
	r        io.Reader
	n        *atomic.Int64
	progress func(int64)
	local    int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.local += int64(n)
	c.n.Add(int64(n))
	c.progress(c.local)
	return n, err
}

// progressStep reports about every 10% (at least every 16 MiB, at most every 256 MiB).
func progressStep(size int64) int64 { return min(max(size/10, 16<<20), 256<<20) }

func bytesText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func sizeText(n int64) string {
	if n < 0 {
		return "unknown size"
	}
	return bytesText(n)
}

// progressEvery returns a progress callback that calls report each time
// another step bytes have moved (and never more often).
func progressEvery(step int64, report func(n int64)) func(int64) {
	if step <= 0 {
		step = 64 << 20
	}
	next := step
	return func(n int64) {
		if n >= next {
			report(n)
			next = (n/step + 1) * step
		}
	}
}
