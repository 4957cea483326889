// Package qspromoter holds the files that ship inside the binary: the
// commented starter configuration and the shipped policies, so that the
// demo runs from any folder and a later `init` writes the same files.
package qspromoter

import (
	"embed"
	"io/fs"
)

// ExampleConfig is qs-promoter.example.yaml: a commented starter
// configuration with three sites and every optional key at its default.
//
//go:embed qs-promoter.example.yaml
var ExampleConfig []byte

//go:embed policies/*.yaml policies/README.md policies/testdata
var shipped embed.FS

// Policies holds the shipped policy files, their tests (with testdata/) and
// their README.md, at its root.
var Policies fs.FS = mustSub(shipped, "policies")

func mustSub(f fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		panic(err) // dir is a constant embedded above
	}
	return sub
}
