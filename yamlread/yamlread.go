// Package yamlread reads the YAML files admins write (the policies, the
// policy tests, the daemon configuration) strictly and in one manner: every
// problem is an *Error at file:line:col, an unknown key is worded the same
// everywhere (with "did you mean"), every problem of a file is reported at
// once, and yaml.v3's syntax errors are moved to the line that holds the
// mistake.
package yamlread

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Error is one problem in a file, at a 1-based line and column (Col 0: the
// column is unknown).
type Error struct {
	File string
	Line int
	Col  int
	Msg  string
}

// Error formats the problem as file:line:col: message (file:line: when Col is 0).
func (e *Error) Error() string {
	if e.Col <= 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
}

// Pos is a position in a file, for a problem found after the file was read
// (a setting checked against the policies).
type Pos struct {
	File      string
	Line, Col int
}

// Errorf returns a problem at the position.
func (p Pos) Errorf(format string, args ...any) *Error {
	return &Error{File: p.File, Line: p.Line, Col: p.Col, Msg: fmt.Sprintf(format, args...)}
}

// Problems collects the problems of one file, so that all are reported at once.
type Problems struct {
	File string
	Errs []error
}

// At records a problem at a line and column.
func (p *Problems) At(line, col int, format string, args ...any) {
	p.Errs = append(p.Errs, &Error{File: p.File, Line: line, Col: col, Msg: fmt.Sprintf(format, args...)})
}

// Node records a problem at a node.
func (p *Problems) Node(n *yaml.Node, format string, args ...any) {
	p.At(n.Line, n.Column, format, args...)
}

// Err returns every problem, in file order, joined; nil when there is none.
func (p *Problems) Err() error {
	if len(p.Errs) == 0 {
		return nil
	}
	Sort(p.Errs)
	return errors.Join(p.Errs...)
}

// Sort orders positioned errors by file, line and column; other errors keep
// their place relative to each other, after the positioned ones.
func Sort(errs []error) {
	sort.SliceStable(errs, func(i, j int) bool {
		var a, b *Error
		ai, bi := errors.As(errs[i], &a), errors.As(errs[j], &b)
		if !ai || !bi {
			return ai && !bi
		}
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
}

// UnknownKey is the one wording of an unknown key: `unknown key "hots" in
// sites[0]; did you mean "host"? (known: alias, host, …)`.
func UnknownKey(key, in string, known []string) string {
	list := strings.Join(known, ", ")
	if list == "" {
		list = "none"
	}
	return fmt.Sprintf("unknown key %q in %s%s (known: %s)", key, in, Suggest(key, known), list)
}

// Twice is the one wording of a key given twice in one mapping.
func Twice(key, in string) string {
	return fmt.Sprintf("%q given twice in %s", key, in)
}

// Mapping walks a mapping node strictly: an unknown key or one given twice
// is a problem; each known key is handed to each once, in file order.
func (p *Problems) Mapping(n *yaml.Node, what string, known []string, each func(key string, k, v *yaml.Node)) {
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key := k.Value
		if !slices.Contains(known, key) {
			p.Node(k, "%s", UnknownKey(key, what, known))
			continue
		}
		if seen[key] {
			p.Node(k, "%s", Twice(key, what))
			continue
		}
		seen[key] = true
		each(key, k, v)
	}
}

// Suggest returns `; did you mean "x"?` for the candidate closest to word,
// if one is close (an edit distance below 3), else "".
func Suggest(word string, candidates []string) string {
	best := Closest(word, candidates)
	if best == "" || best == word {
		return ""
	}
	return fmt.Sprintf("; did you mean %q?", best)
}

// Closest returns the candidate closest to word (case-insensitive, an edit
// distance below 3), or "".
func Closest(word string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		if d := editDistance(strings.ToLower(word), strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	if utf8.RuneCountInString(a) > 64 || utf8.RuneCountInString(b) > 64 {
		return 99
	}
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// Kind names a node's kind in a message ("a mapping", "a list", "a value").
func Kind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.AliasNode:
		return "YAML alias"
	}
	return "value"
}

// IsNull reports whether n is an empty value (`key:` with nothing after it, or null).
func IsNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}
