package actions

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/qs-promoter/qs-promoter/engine"
)

const docPath = "../docs/actions.md"

// actionsReference returns docs/actions.md and the bounds of its actions
// reference (from its heading to the next "## " heading).
func actionsReference(t *testing.T) (doc string, start, end int) {
	t.Helper()
	b, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	doc = string(b)
	start = strings.Index(doc, "\n## Actions reference\n")
	if start < 0 {
		t.Fatal("docs/actions.md has no \"## Actions reference\" section")
	}
	start++
	end = len(doc)
	if i := strings.Index(doc[start+3:], "\n## "); i >= 0 {
		end = start + 3 + i + 1
	}
	return doc, start, end
}

// sectionOf returns the bounds of the "### name" section within ref.
func sectionOf(ref, name string) (start, end int, ok bool) {
	start = strings.Index(ref, "\n### "+name+"\n")
	if start < 0 {
		return 0, 0, false
	}
	start++
	end = len(ref)
	if i := strings.Index(ref[start+4:], "\n##"); i >= 0 {
		end = start + 4 + i + 1
	}
	return start, end, true
}

// block returns the bounds of the first block of s starting with prefix
// and ending at the line that closes it (close: a line "```"; "": the
// first line not starting with "|").
func block(s, prefix string, fenced bool) (start, end int, ok bool) {
	start = strings.Index(s, prefix)
	if start < 0 || (start > 0 && s[start-1] != '\n') {
		return 0, 0, false
	}
	end = start
	for first := true; end < len(s); first = false {
		nl := strings.IndexByte(s[end:], '\n')
		if nl < 0 {
			return start, len(s), true
		}
		line := s[end : end+nl]
		if fenced && !first && line == "```" {
			return start, end + nl + 1, true
		}
		if !fenced && !strings.HasPrefix(line, "|") {
			return start, end, true
		}
		end += nl + 1
	}
	return start, end, true
}

// TestDocsCoverEveryParameter keeps the actions reference (docs/actions.md) true to
// the specs: the table of actions has each action's row as its spec gives
// it (summary, destructive) and no other; each action has a section whose
// parameter table and first example are the ones generated from its spec;
// there is no section for an action that does not exist. With -update the
// reference's generated parts are rewritten from the specs.
func TestDocsCoverEveryParameter(t *testing.T) {
	doc, start, end := actionsReference(t)
	ref := doc[start:end]
	specs := Specs()

	// The table of actions: the reference's order, new actions at the end.
	ts, te, ok := block(ref, actionsTableHeader, false)
	if !ok {
		t.Fatalf("docs/actions.md: the actions reference has no table starting with\n%s", actionsTableHeader)
	}
	var order []string
	for _, line := range strings.Split(strings.TrimSpace(ref[ts+len(actionsTableHeader):te]), "\n") {
		name, _, _ := strings.Cut(strings.TrimPrefix(line, "| ["), "]")
		if _, ok := specs[name]; !ok {
			t.Errorf("docs/actions.md: the table of actions has a row for %q, which is no action: %s", name, line)
			continue
		}
		order = append(order, name)
	}
	for _, name := range Names() {
		if !slices.Contains(order, name) {
			order = append(order, name)
		}
	}
	table := actionsTableHeader
	for _, name := range order {
		table += actionRow(specs[name])
		if !strings.Contains(ref[ts:te], actionRow(specs[name])) {
			t.Errorf("docs/actions.md: the table of actions lacks the row (go test -update writes it):\n%s", actionRow(specs[name]))
		}
	}
	ref = ref[:ts] + table + ref[te:]

	// A section per action, with its spec's parameters and example.
	for _, name := range Names() {
		spec := specs[name]
		ss, se, ok := sectionOf(ref, name)
		if !ok {
			t.Errorf("docs/actions.md has no section \"### %s\" in the actions reference", name)
			continue
		}
		section := ref[ss:se]
		for _, part := range []struct {
			what, prefix, want string
			fenced             bool
		}{
			{"parameter table", "| parameter |", paramTable(spec), false},
			{"example", "```yaml\n", exampleBlock(spec), true},
		} {
			if len(spec.Params) == 0 && part.what == "parameter table" {
				continue
			}
			bs, be, ok := block(section, part.prefix, part.fenced)
			switch {
			case !ok:
				t.Errorf("docs/actions.md: %s: no %s; its spec gives:\n%s", name, part.what, part.want)
				continue
			case section[bs:be] != part.want:
				t.Errorf("docs/actions.md: %s: the %s differs from its spec's (go test -update rewrites it):\n--- docs/actions.md\n%s--- spec\n%s", name, part.what, section[bs:be], part.want)
			}
			section = section[:bs] + part.want + section[be:]
		}
		ref = ref[:ss] + section + ref[se:]
	}
	for _, line := range strings.Split(ref, "\n") {
		if name, ok := strings.CutPrefix(line, "### "); ok && name != "Configuration the actions use" {
			if _, ok := specs[name]; !ok {
				t.Errorf("docs/actions.md: the actions reference has a section %q, which is no action", line)
			}
		}
	}
	if *update {
		if err := os.WriteFile(docPath, []byte(doc[:start]+ref+doc[end:]), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSpecExamplesLoad loads every action's example as the steps of a
// policy, after a promote and an s3-version step they may refer to: an
// example in the docs is one the loader accepts.
func TestSpecExamplesLoad(t *testing.T) {
	opts := engine.LoadOptions{Specs: Specs(), Sites: []string{"test", "prod"},
		Builtin: map[string]any{"s3_enabled": true, "webhooks": []string{"chat"}}}
	for _, name := range Names() {
		spec := Specs()[name]
		var steps []map[string]any
		if err := yaml.Unmarshal([]byte(spec.Example), &steps); err != nil || len(steps) == 0 {
			t.Errorf("%s: the example is not a list of steps: %v\n%s", name, err, spec.Example)
			continue
		}
		ids := map[string]bool{}
		uses := false
		for _, s := range steps {
			id, _ := s["id"].(string)
			ids[id] = true
			uses = uses || s["action"] == name
		}
		if !uses {
			t.Errorf("%s: the example has no step with action: %s", name, name)
		}
		var before string
		if !ids["promote"] {
			before += "      - {id: promote, action: promote, with: {targets: [test - Overwrite], streams: [Everyone]}}\n"
		}
		if !ids["s3"] {
			before += "      - {id: s3, action: s3-version}\n"
		}
		policy := fmt.Sprintf("config: {reload_tag: PromoteOnReload}\npolicies:\n  - name: example\n    on: [updated]\n    vars: {unpublish: \"true\"}\n    steps:\n%s%s",
			before, indent(spec.Example, "      "))
		if _, err := engine.LoadFiles(map[string][]byte{name + ".yaml": []byte(policy)}, opts); err != nil {
			t.Errorf("%s: the example does not load: %v\n%s", name, err, policy)
		}
	}
}

func indent(s, by string) string {
	lines := strings.SplitAfter(s, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = by + l
		}
	}
	return strings.Join(lines, "")
}
