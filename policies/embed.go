// Package policies holds the shipped policy files (data, not code), embedded
// so that the demo runs from any folder. Their config.<key> defaults are
// daemon.DefaultVars (README.md lists them).
package policies

import "embed"

// Files holds the shipped policies, their tests (with testdata/) and README.md.
//
//go:embed *.yaml README.md testdata
var Files embed.FS
