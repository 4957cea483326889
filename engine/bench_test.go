package engine

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
)

// benchPolicies returns n policies in the shape of the shipped ones, all
// listening on updated so that every `when` runs.
func benchPolicies(n int) string {
	var b strings.Builder
	b.WriteString("policies:\n")
	for i := range n {
		fmt.Fprintf(&b, `  - name: policy-%d
    on: [updated, published]
    when: >
      app.published
      and lower(first(app.properties.PromotionApproval)) contains "approve"
      and len(targets(app.properties.PromoteToServer)) > %d
      and not has_tag(app.tags, "PromoteOnReload")
    vars:
      targets: targets(app.properties.PromoteToServer)
    steps:
      - id: promote
        action: promote
        with:
          targets: "{{ vars.targets }}"
          streams: "{{ app.properties.PromoteToStream }}"
      - action: email
        with:
          to: "{{ app.owner.email }}"
          subject: "'{{ app.name }}' promotion results ({{ steps.promote.status }})"
`, i, i%3)
	}
	return b.String()
}

func BenchmarkEvaluate100(b *testing.B) {
	rs := mustLoad(b, benchPolicies(100))
	f := approvedFacts()
	matched := 0
	for _, m := range rs.Evaluate(f) {
		if m.Matched {
			matched++
		}
	}
	b.ReportMetric(float64(matched), "matched")
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		rs.Evaluate(f)
	}
}

// BenchmarkBareExpr100 runs the same conditions, compiled whole with the
// same environment, directly with expr.Run: the floor Evaluate is measured
// against.
func BenchmarkBareExpr100(b *testing.B) {
	rs := mustLoad(b, benchPolicies(100))
	f := approvedFacts()
	env := rs.whenScope.value(rs.shape.newRunEnv(f))
	progs := make([]*vm.Program, len(rs.Policies))
	for i, p := range rs.Policies {
		opts := append([]expr.Option{expr.Env(env), expr.AsBool()}, rs.shape.funcs...)
		prog, err := expr.Compile(p.When, opts...)
		if err != nil {
			b.Fatal(err)
		}
		progs[i] = prog
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for _, p := range progs {
			if _, err := expr.Run(p, env); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkCompile1000(b *testing.B) {
	files := map[string][]byte{"p.yaml": []byte(benchPolicies(1000))}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := LoadFiles(files, testOpts); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzLoad feeds the loader arbitrary files: it must never panic, and a
// failed load must say where (every problem positioned in the file).
func FuzzLoad(f *testing.F) {
	for _, path := range []string{"testdata/policies/approval.yaml", "testdata/check/many/a.yaml", "testdata/check/unknown-fact/a.yaml", "testdata/check/bad-param/a.yaml"} {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(benchPolicies(2)))
	f.Add([]byte("policies:\n  - name: x\n    on: updated\n    when: \"{{\"\n    steps: [{action: log, with: {message: '{{ a }'}}]\n"))
	f.Add([]byte("policies: [{name: q, on: [manual], when: '\\u00e9 and \\\"', steps: [{action: email, with: {to: [], subject: \"\\t{{ 1 }}\"}}]}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		watchdog := time.AfterFunc(20*time.Second, func() { panic(fmt.Sprintf("load hangs on %q", data)) })
		defer watchdog.Stop()
		rs, err := LoadFiles(map[string][]byte{"f.yaml": data}, testOpts)
		if err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "f.yaml:") {
					t.Fatalf("problem without a position: %q", line)
				}
			}
			return
		}
		rs.Evaluate(approvedFacts())
	})
}
