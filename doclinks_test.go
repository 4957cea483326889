package qspromoter_test

import (
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"
)

// TestDocLinksResolve keeps the documentation navigable as sections are added
// and moved: every relative link in the repository's Markdown (README.md,
// docs/*.md, the folders' READMEs) names a file of the repository, and every
// #anchor a heading of the file it points into.
func TestDocLinksResolve(t *testing.T) {
	files := markdownFiles(t, ".")
	for _, want := range []string{"README.md", "docs/README.md"} {
		if !slices.Contains(files, want) {
			t.Fatalf("%s is missing (found %v)", want, files)
		}
	}
	checked := 0
	for _, f := range files {
		problems, n, err := brokenLinks(".", f)
		if err != nil {
			t.Fatal(err)
		}
		checked += n
		for _, p := range problems {
			t.Error(p)
		}
	}
	// The README and the docs index alone hold more than this: a parser that
	// found none would pass everything.
	if checked < 50 {
		t.Errorf("checked only %d relative links in %v", checked, files)
	}
}

// TestDocsIndexListsEveryPage: a page added to docs/ is reachable from its index.
func TestDocsIndexListsEveryPage(t *testing.T) {
	index, err := os.ReadFile("docs/README.md")
	if err != nil {
		t.Fatal(err)
	}
	pages, _ := filepath.Glob("docs/*.md")
	targets := map[string]bool{}
	for _, l := range docLinks(string(index)) {
		p, _, _ := strings.Cut(l.target, "#")
		targets[p] = true
	}
	for _, p := range pages {
		if name := filepath.Base(p); name != "README.md" && !targets[name] {
			t.Errorf("docs/README.md does not link to %s: add it to the index", name)
		}
	}
}

// TestBrokenLinksReportsWhatIsWrong runs the checker on a small tree: a link
// to a missing file, to a missing anchor, and the links it must accept.
func TestBrokenLinksReportsWhatIsWrong(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "docs"), 0o755)
	os.WriteFile(filepath.Join(dir, "README.md"), []byte("# Top\n\n"+
		"[ok](docs/a.md#the-policies-names-config-and-vars) [dup](docs/a.md#setup-1) [self](#top)\n"+
		"[html](docs/a.md#custom) [dir](docs/) [web](https://example.com/x#y) [mail](mailto:a@b.c)\n"+
		"`[code](nowhere.md)`\n\n```\n[fenced](nowhere.md)\n## Not a heading\n```\n"+
		"[gone](docs/missing.md) [bad anchor](docs/a.md#not-a-heading) [out](../outside.md)\n"+
		"[ref]: docs/a.md#nope\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "docs", "a.md"), []byte("# A\n\n"+
		"## The policies' names (`config:` and [vars](x.md))\n\n### Setup\n\n### Setup\n\n<a name=\"custom\"></a>\n"), 0o644)
	problems, n, err := brokenLinks(dir, "README.md")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"README.md:11: docs/missing.md: no such file",
		"README.md:11: docs/a.md#not-a-heading: docs/a.md has no heading with the anchor #not-a-heading",
		"README.md:11: ../outside.md: points outside the repository",
		"README.md:12: docs/a.md#nope: docs/a.md has no heading with the anchor #nope",
	}
	if !slices.Equal(problems, want) || n != 9 {
		t.Errorf("%d links checked, problems:\n%s\nwant 9 and:\n%s", n, strings.Join(problems, "\n"), strings.Join(want, "\n"))
	}
}

// markdownFiles lists the Markdown files under root, as slash paths, leaving
// out test data and hidden folders.
func markdownFiles(t *testing.T, root string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != root && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, ".md") {
			rel, _ := filepath.Rel(root, p)
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

type docLink struct {
	line   int
	target string
}

var (
	inlineLink = regexp.MustCompile(`!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)`)
	refLink    = regexp.MustCompile(`^ {0,3}\[[^\]]+\]:\s*<?([^\s>]+)>?`)
	codeSpan   = regexp.MustCompile("`+[^`]*`+")
	atxHeading = regexp.MustCompile(`^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$`)
	htmlAnchor = regexp.MustCompile(`<a\s+(?:name|id)="([^"]+)"`)
	urlScheme  = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*:`)
)

// docLinks returns the links of a Markdown text outside fenced blocks and
// code spans.
func docLinks(text string) []docLink {
	var links []docLink
	for i, line := range proseLines(text) {
		if line == "" {
			continue
		}
		line = codeSpan.ReplaceAllString(line, "")
		for _, m := range inlineLink.FindAllStringSubmatch(line, -1) {
			links = append(links, docLink{i + 1, m[1]})
		}
		if m := refLink.FindStringSubmatch(line); m != nil {
			links = append(links, docLink{i + 1, m[1]})
		}
	}
	return links
}

// proseLines returns the text's lines with those of fenced code blocks
// (and their fences) blanked, so line numbers stay true.
func proseLines(text string) []string {
	lines := strings.Split(text, "\n")
	fence := ""
	for i, l := range lines {
		trimmed := strings.TrimLeft(l, " ")
		switch {
		case fence != "":
			if strings.HasPrefix(trimmed, fence) && strings.Trim(trimmed, fence[:1]) == "" {
				fence = ""
			}
			lines[i] = ""
		case strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~"):
			fence = trimmed[:3]
			lines[i] = ""
		}
	}
	return lines
}

// anchors returns the #anchors a Markdown text defines, as GitHub renders
// them: one per heading (its slug, -1, -2 … for repeats) and explicit
// <a name|id="…"> anchors.
func anchors(text string) map[string]bool {
	seen := map[string]int{}
	out := map[string]bool{}
	for _, line := range proseLines(text) {
		for _, m := range htmlAnchor.FindAllStringSubmatch(line, -1) {
			out[m[1]] = true
		}
		m := atxHeading.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		slug := headingSlug(m[2])
		if n := seen[slug]; n > 0 {
			out[fmt.Sprintf("%s-%d", slug, n)] = true
		} else {
			out[slug] = true
		}
		seen[slug]++
	}
	return out
}

var linkText = regexp.MustCompile(`!?\[([^\]]*)\]\([^)]*\)`)

// headingSlug is GitHub's anchor for a heading: its rendered text in lower
// case, without punctuation or symbols, spaces turned into hyphens.
func headingSlug(heading string) string {
	text := linkText.ReplaceAllString(heading, "$1")
	var b strings.Builder
	for _, r := range strings.ToLower(text) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.IsMark(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// brokenLinks checks the relative links of the Markdown file name (a slash
// path under root): each names a file or folder inside root, and each
// #anchor one that file defines. It returns the problems as
// "file:line: link: what is wrong" and how many links it checked.
func brokenLinks(root, name string) (problems []string, checked int, err error) {
	text, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(name)))
	if err != nil {
		return nil, 0, err
	}
	texts := map[string]string{name: string(text)}
	for _, l := range docLinks(string(text)) {
		if urlScheme.MatchString(l.target) {
			continue
		}
		checked++
		bad := func(format string, args ...any) {
			problems = append(problems, fmt.Sprintf("%s:%d: %s: ", name, l.line, l.target)+fmt.Sprintf(format, args...))
		}
		target, anchor, _ := strings.Cut(l.target, "#")
		if target, err = url.PathUnescape(target); err != nil {
			bad("not a valid path: %v", err)
			continue
		}
		file := name
		if target != "" {
			file = path.Join(path.Dir(name), target)
			if file == ".." || strings.HasPrefix(file, "../") || path.IsAbs(target) {
				bad("points outside the repository")
				continue
			}
			if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(file))); err != nil {
				bad("no such file")
				continue
			}
		}
		if anchor == "" {
			continue
		}
		if !strings.HasSuffix(file, ".md") {
			bad("an anchor into %s, which is not Markdown", file)
			continue
		}
		if _, ok := texts[file]; !ok {
			b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(file)))
			if err != nil {
				return nil, 0, err
			}
			texts[file] = string(b)
		}
		if !anchors(texts[file])[anchor] {
			bad("%s has no heading with the anchor #%s", file, anchor)
		}
	}
	return problems, checked, nil
}
