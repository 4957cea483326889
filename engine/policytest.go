package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"
)

// Policy tests live beside the policies as *_test.yaml. Each case builds a
// fact set (from a recorded event and/or inline overrides), dry-runs the
// rule set with actions that only describe themselves, and compares which
// policies matched and which steps would run with which parameters. This
// file runs the cases; policytest_parse.go reads them.

type testCase struct {
	file, name string
	line       int
	facts      *Facts
	expect     testExpect
}

type testExpect struct {
	matched     []string // nil: not checked
	notMatched  []string
	steps       []stepExpect // nil: not checked
	stepsGiven  bool
	skipped     []string
	failed      []string
	matchedGiv  bool
	reasonMatch map[string]string // policy → substring of its reason
}

type stepExpect struct {
	key      string // policy/id
	line     int
	params   map[string]any
	contains map[string]string
}

// RunTests runs every *_test.yaml of dir against the policies of dir and
// writes one line per case in the manner of `go test`. acts nil: every
// action is mocked by one that plans without side effects. failed counts
// the failed cases; err is for what stops the run (policies that do not
// load, a test file that does not parse).
func RunTests(dir string, opts LoadOptions, acts map[string]Action, w io.Writer) (failed int, err error) {
	rs, err := Load(dir, opts)
	if err != nil {
		return 0, err
	}
	if acts == nil {
		acts = MockActions(opts.Specs)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	var files []string
	for _, e := range entries {
		if !e.IsDir() && isTestFile(e.Name()) {
			files = append(files, filepath.Join(dir, e.Name()))
		}
	}
	sort.Strings(files)
	var cases []testCase
	var errs []error
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return 0, err
		}
		cs, err := parseTestFile(f, data, opts, rs)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		cases = append(cases, cs...)
	}
	if len(errs) > 0 {
		return 0, errors.Join(errs...)
	}
	start := time.Now()
	for _, c := range cases {
		problems := runCase(rs, acts, c)
		if len(problems) == 0 {
			fmt.Fprintf(w, "ok    %s:%d: %s\n", c.file, c.line, c.name)
			continue
		}
		failed++
		fmt.Fprintf(w, "FAIL  %s:%d: %s\n", c.file, c.line, c.name)
		for _, p := range problems {
			fmt.Fprintf(w, "      %s\n", p)
		}
	}
	if failed > 0 {
		fmt.Fprintf(w, "FAIL  %s: %d of %d cases failed (%d files, revision %s, %.3fs)\n", dir, failed, len(cases), len(files), rs.Revision, time.Since(start).Seconds())
	} else {
		fmt.Fprintf(w, "ok    %s: %d cases passed (%d files, revision %s, %.3fs)\n", dir, len(cases), len(files), rs.Revision, time.Since(start).Seconds())
	}
	return failed, nil
}

func runCase(rs *Ruleset, acts map[string]Action, c testCase) []string {
	rep, err := rs.Execute(context.Background(), c.facts, acts, ExecOptions{ExecutionID: "test", DryRun: true})
	if err != nil {
		return []string{err.Error()}
	}
	var out []string
	var matched []string
	reasons := map[string]string{}
	for _, p := range rep.Policies {
		reasons[p.Name] = p.Reason
		if p.Matched {
			matched = append(matched, p.Name)
		}
		if p.Err != "" {
			out = append(out, fmt.Sprintf("policy %s failed: %s", p.Name, p.Err))
		}
	}
	e := c.expect
	if e.matchedGiv && strings.Join(matched, ", ") != strings.Join(e.matched, ", ") {
		out = append(out, fmt.Sprintf("matched: got [%s], want [%s]", strings.Join(matched, ", "), strings.Join(e.matched, ", ")))
		for _, name := range e.matched {
			if !slices.Contains(matched, name) {
				out = append(out, fmt.Sprintf("  %s did not match: %s", name, reasons[name]))
			}
		}
	}
	for _, name := range e.notMatched {
		if slices.Contains(matched, name) {
			out = append(out, fmt.Sprintf("%s matched (%s), want no match", name, reasons[name]))
		}
	}
	for name, sub := range e.reasonMatch {
		if r, ok := reasons[name]; !ok || !strings.Contains(r, sub) {
			out = append(out, fmt.Sprintf("%s: reason %q does not contain %q", name, r, sub))
		}
	}
	var planned, skipped, failed []string
	byKey := map[string]StepReport{}
	for _, p := range rep.Policies {
		for _, s := range p.Steps {
			key := p.Name + "/" + s.ID
			byKey[key] = s
			switch {
			case s.Skipped:
				skipped = append(skipped, key)
			case s.Err != "" && !s.NotRun:
				failed = append(failed, key)
				if !slices.Contains(e.failed, key) {
					out = append(out, fmt.Sprintf("step %s failed: %s", key, s.Err))
				}
			case !s.NotRun:
				planned = append(planned, key)
			}
		}
	}
	if e.stepsGiven {
		var want []string
		for _, s := range e.steps {
			want = append(want, s.key)
		}
		if strings.Join(planned, ", ") != strings.Join(want, ", ") {
			out = append(out, fmt.Sprintf("steps: got [%s], want [%s]", strings.Join(planned, ", "), strings.Join(want, ", ")))
		}
	}
	for _, s := range e.steps {
		got, ok := byKey[s.key]
		if !ok {
			continue
		}
		names := make([]string, 0, len(s.params))
		for n := range s.params {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			g, w := formatValue(got.Params[n]), formatValue(s.params[n])
			if g != w {
				out = append(out, fmt.Sprintf("step %s (line %d): %s = %q, want %q", s.key, s.line, n, g, w))
			}
		}
		names = names[:0]
		for n := range s.contains {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			if g := formatValue(got.Params[n]); !strings.Contains(g, s.contains[n]) {
				out = append(out, fmt.Sprintf("step %s (line %d): %s = %q, want it to contain %q", s.key, s.line, n, g, s.contains[n]))
			}
		}
	}
	if e.skipped != nil && strings.Join(skipped, ", ") != strings.Join(e.skipped, ", ") {
		out = append(out, fmt.Sprintf("skipped: got [%s], want [%s]", strings.Join(skipped, ", "), strings.Join(e.skipped, ", ")))
	}
	for _, k := range e.failed {
		if !slices.Contains(failed, k) {
			out = append(out, fmt.Sprintf("step %s did not fail", k))
		}
	}
	return out
}

// MockActions returns actions for the specs whose Plan and Run only
// describe the call: policy tests check decisions, not side effects.
func MockActions(specs map[string]ActionSpec) map[string]Action {
	out := make(map[string]Action, len(specs))
	for n, s := range specs {
		out[n] = mockAction{s}
	}
	return out
}

type mockAction struct{ spec ActionSpec }

func (m mockAction) Spec() ActionSpec { return m.spec }
func (m mockAction) Plan(ctx context.Context, in *StepInput) (Result, error) {
	return Result{Status: StatusPlanned, Summary: "would run " + m.spec.Name}, nil
}
func (m mockAction) Run(ctx context.Context, in *StepInput) (Result, error) {
	return Result{Status: StatusDone, Summary: "ran " + m.spec.Name}, nil
}
