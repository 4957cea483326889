//go:build !unix && !windows

package actions

import "math"

// freeSpace is unknown here: only spool.max_mb bounds the spools.
func freeSpace(string) (int64, error) { return math.MaxInt64 / 2, nil }
