package yamlread

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Parse reads the one YAML document of a file. An empty file (or one of
// comments only) gives a nil node and no error. A syntax error, or a second
// document after ---, is an *Error.
func Parse(file string, data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, SyntaxError(file, data, err)
	}
	var second yaml.Node
	if err := dec.Decode(&second); err == nil {
		return nil, &Error{File: file, Line: second.Line, Col: second.Column, Msg: "a second YAML document (after ---): a file holds one; remove the --- and merge what follows into the first"}
	} else if !errors.Is(err, io.EOF) {
		return nil, SyntaxError(file, data, err)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return nil, nil
		}
		root = root.Content[0]
	}
	return root, nil
}

var lineError = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// SyntaxError positions one of yaml.v3's syntax errors. yaml.v3 gives a
// line but no column, and for a block that goes wrong (a key indented one
// space off) the line where the block starts rather than the line with the
// mistake: the line is found again here, and the commonest mistakes get
// their own message: a tab in the indentation, a value that starts with a
// quote but goes on after the closing one (when: "x" in app.tags), an
// indentation that matches no level above, and an unclosed [ or {.
func SyntaxError(file string, data []byte, err error) *Error {
	msg := err.Error()
	m := lineError.FindStringSubmatch(msg)
	if m == nil {
		return &Error{File: file, Line: 1, Msg: "YAML syntax: " + strings.TrimPrefix(msg, "yaml: ")}
	}
	line, _ := strconv.Atoi(m[1])
	problem := m[2]
	lines := strings.Split(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n")
	from := max(line-2, 0)
	if strings.Contains(problem, "tab character") || strings.Contains(problem, "cannot start any token") {
		for i := from; i < len(lines); i++ {
			indent := lines[i][:len(lines[i])-len(strings.TrimLeft(lines[i], " \t"))]
			if j := strings.IndexByte(indent, '\t'); j >= 0 {
				return &Error{File: file, Line: i + 1, Col: j + 1, Msg: "YAML syntax: a tab in the indentation; indent with spaces only"}
			}
		}
	}
	if strings.HasPrefix(problem, "did not find expected") || strings.HasPrefix(problem, "could not find expected") {
		for i := from; i < len(lines); i++ {
			if col, value, ok := quotedThenText(lines[i]); ok {
				whole := "write it on the next lines after >"
				switch {
				case !strings.Contains(value, "'"):
					whole = fmt.Sprintf("quote it whole ('%s'), or %s", value, whole)
				case !strings.Contains(value, `"`):
					whole = fmt.Sprintf("quote it whole (\"%s\"), or %s", value, whole)
				}
				return &Error{File: file, Line: i + 1, Col: col, Msg: "YAML syntax: this value starts with a quote, so it must end with one: " + whole}
			}
		}
	}
	if !strings.HasPrefix(problem, "did not find expected") {
		// A scanner error: yaml.v3 reports the line of the mistake.
		if line >= 1 && line <= len(lines) {
			if hint := deeperHint(lines, line-1, problem); hint != "" {
				return &Error{File: file, Line: line, Col: indentOf(lines[line-1]) + 1, Msg: "YAML syntax: " + problem + hint}
			}
		}
		return &Error{File: file, Line: line, Msg: "YAML syntax: " + problem}
	}
	// A parser error: yaml.v3 names the 0-based line where the unfinished
	// list or mapping starts. The mistake is on the first line at which the
	// text so far fails in the same way.
	start := line + 1
	at := problemLine(lines, line, msg)
	if at == 0 {
		return &Error{File: file, Line: start, Msg: "YAML syntax: " + problem + " (in the list or mapping that starts on this line)"}
	}
	if open, ok := strings.CutPrefix(problem, "did not find expected ',' or "); ok {
		// A flow list or mapping never closed: point at its opening bracket.
		closing := strings.Trim(open, "'")
		opening := map[string]byte{"]": '[', "}": '{'}[closing]
		if col := unclosed(lines[at-1], opening); col > 0 {
			return &Error{File: file, Line: at, Col: col, Msg: fmt.Sprintf("YAML syntax: this %c is never closed with %s", opening, closing)}
		}
		return &Error{File: file, Line: at, Msg: "YAML syntax: " + problem}
	}
	col := indentOf(lines[at-1]) + 1
	if levels := openLevels(lines, at-1); !slicesContainsLevel(levels, col-1) && len(levels) > 0 {
		var above []string
		for _, lv := range levels[:min(len(levels), 3)] { // the nearest are the candidates
			above = append(above, fmt.Sprintf("%d on line %d", lv.indent, lv.line))
		}
		return &Error{File: file, Line: at, Col: col, Msg: fmt.Sprintf("YAML syntax: this line is indented by %s, which lines up with no line above it (%s): indent it as the keys it belongs with",
			spaces(col-1), strings.Join(above, ", "))}
	}
	what := strings.TrimPrefix(problem, "did not find expected ")
	switch what {
	case "'-' indicator":
		what = fmt.Sprintf(`a list item ("- …") here, in the list that starts on line %d`, start)
	case "key":
		what = fmt.Sprintf(`a key ("name: …") here, in the mapping that starts on line %d`, start)
	}
	return &Error{File: file, Line: at, Col: col, Msg: "YAML syntax: expected " + what}
}

// problemLine finds the 1-based line of a parser error: the first line from
// the reported one on at which the document cut after it fails with the same
// error (0 when no cut does). Cuts before that line parse, or fail
// differently (inside a quoted value or a flow list); cuts after it fail at
// the same place: so a binary search finds it.
func problemLine(lines []string, reported int, msg string) int {
	from := max(reported, 1)
	fails := func(k int) bool {
		var n yaml.Node
		err := yaml.Unmarshal([]byte(strings.Join(lines[:k], "\n")+"\n"), &n)
		return err != nil && sameProblem(err.Error(), msg)
	}
	if from > len(lines) {
		return 0
	}
	k := from + sort.Search(len(lines)-from+1, func(i int) bool { return fails(from + i) })
	if k > len(lines) || !fails(k) {
		return 0
	}
	return k
}

// sameProblem compares two yaml.v3 errors without their line numbers.
func sameProblem(a, b string) bool {
	ma, mb := lineError.FindStringSubmatch(a), lineError.FindStringSubmatch(b)
	return ma != nil && mb != nil && ma[2] == mb[2]
}

func spaces(n int) string {
	if n == 1 {
		return "1 space"
	}
	return fmt.Sprintf("%d spaces", n)
}

func indentOf(line string) int { return len(line) - len(strings.TrimLeft(line, " ")) }

// level is the indentation of a block open above a line.
type level struct{ indent, line int }

// openLevels lists the indentations of the blocks still open at line i
// (0-based): each earlier content line indented less than the ones after
// it; a list item "- key: v" opens two, the dash and the key after it.
func openLevels(lines []string, i int) []level {
	var out []level
	limit := 1 << 30
	for j := i - 1; j >= 0 && limit > 0; j-- {
		text := strings.TrimSpace(lines[j])
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		ind := indentOf(lines[j])
		if rest, ok := strings.CutPrefix(text, "- "); ok {
			inner := ind + 2 + indentOf(rest)
			if inner < limit {
				out = append(out, level{inner, j + 1})
				limit = inner
			}
		}
		if ind < limit {
			out = append(out, level{ind, j + 1})
			limit = ind
		}
	}
	return out
}

func slicesContainsLevel(levels []level, indent int) bool {
	for _, lv := range levels {
		if lv.indent == indent {
			return true
		}
	}
	return false
}

// deeperHint explains a scanner error on a line indented deeper than the
// `key: value` line above it: YAML reads it as more of that value.
func deeperHint(lines []string, i int, problem string) string {
	if problem != "mapping values are not allowed in this context" || i < 1 {
		return ""
	}
	for j := i - 1; j >= 0; j-- {
		text := strings.TrimSpace(lines[j])
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		_, value, hasKey := strings.Cut(strings.TrimPrefix(text, "- "), ": ")
		if hasKey && strings.TrimSpace(value) != "" && indentOf(lines[i]) > indentOf(lines[j]) {
			return fmt.Sprintf(" (this line is indented deeper than line %d, so it reads as more of that line's value: indent it as the keys it belongs with)", j+1)
		}
		return ""
	}
	return ""
}

// unclosed returns the 1-based column of the last opening bracket of a
// flow list or mapping that the line does not close, 0 if none.
func unclosed(line string, opening byte) int {
	closing := map[byte]byte{'[': ']', '{': '}'}[opening]
	var stack []int
	var quote byte
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '#' && (i == 0 || line[i-1] == ' '):
			i = len(line)
		case c == opening:
			stack = append(stack, i)
		case c == closing && len(stack) > 0:
			stack = stack[:len(stack)-1]
		}
	}
	if len(stack) == 0 {
		return 0
	}
	return utf8.RuneCountInString(line[:stack[len(stack)-1]]) + 1
}

var quotedValueRe = regexp.MustCompile(`^\s*(?:-\s+)?[A-Za-z_][\w.-]*:\s+(["'])`)

// quotedThenText finds `key: "…" more` on a line: a quoted scalar followed
// by text, which YAML rejects. It returns the 1-based column of the text
// after the closing quote, and the value as written after the key.
func quotedThenText(line string) (int, string, bool) {
	line = strings.TrimRight(line, "\r")
	m := quotedValueRe.FindStringSubmatchIndex(line)
	if m == nil {
		return 0, "", false
	}
	start, q := m[2], line[m[2]]
	end := -1
	for i := start + 1; i < len(line); i++ {
		if q == '"' && line[i] == '\\' {
			i++
			continue
		}
		if line[i] == q {
			if q == '\'' && i+1 < len(line) && line[i+1] == '\'' {
				i++ // '' is one quote
				continue
			}
			end = i
			break
		}
	}
	if end < 0 {
		return 0, "", false
	}
	rest := strings.TrimLeft(line[end+1:], " \t")
	if rest == "" || strings.ContainsRune(",]}#", rune(rest[0])) {
		return 0, "", false
	}
	value := strings.TrimSpace(line[start:])
	if i := strings.Index(value, " #"); i >= 0 {
		value = strings.TrimSpace(value[:i])
	}
	return utf8.RuneCountInString(line[:len(line)-len(rest)]) + 1, value, true
}
