package engine

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// failingResult reports a failure through its Result alone, without an error.
type failingResult struct{ spec ActionSpec }

func (a failingResult) Spec() ActionSpec { return a.spec }
func (a failingResult) Plan(ctx context.Context, in *StepInput) (Result, error) {
	return Result{Status: StatusFailed, Summary: "site test refused the upload"}, nil
}
func (a failingResult) Run(ctx context.Context, in *StepInput) (Result, error) {
	return a.Plan(ctx, in)
}

// A step whose Result says failed is a failed step even without an error:
// it stops the later steps, is not checkpointed, and a destructive step
// never runs after it.
func TestExecuteFailedResultWithoutError(t *testing.T) {
	rs := mustLoad(t, `
policies:
  - name: p
    on: [updated]
    steps:
      - {id: first, action: promote, with: {targets: [test - Overwrite], streams: [x]}, on_error: continue}
      - {id: gone, action: unpublish}
      - {id: second, action: promote, with: {targets: [test - Overwrite], streams: [x]}}
      - {id: last, action: log, with: {message: three}}
`)
	fakes := fakeActions()
	acts := asActions(fakes)
	acts["promote"] = failingResult{testSpecs["promote"]}
	cp := &memCheckpoints{saved: map[string]Result{}}
	rep, err := rs.Execute(context.Background(), approvedFacts(), acts, ExecOptions{Checkpoints: cp})
	if err != nil {
		t.Fatal(err)
	}
	s := rep.Policies[0].Steps
	if s[0].Err != "site test refused the upload" || s[0].Result.Status != StatusFailed {
		t.Errorf("first: %+v", s[0])
	}
	if !s[1].NotRun || len(fakes["unpublish"].calls) != 0 {
		t.Errorf("destructive step ran after a failed result: %+v %v", s[1], fakes["unpublish"].calls)
	}
	if !s[3].NotRun || len(fakes["log"].calls) != 0 {
		t.Errorf("a failed result without on_error: continue did not stop the rest: %+v", s[3])
	}
	if len(cp.saved) != 0 || !rep.Failed() {
		t.Errorf("checkpoints %v, failed %v", cp.saved, rep.Failed())
	}
}

// A dry-run plans every step and never runs one, not even a resumed one.
func TestDryRunNeverCallsRun(t *testing.T) {
	rs, err := Load("testdata/policies", testOpts)
	if err != nil {
		t.Fatal(err)
	}
	fakes := fakeActions()
	cp := &memCheckpoints{saved: map[string]Result{"promote-approved/promote": {Status: StatusDone, Summary: "done before"}}}
	rep, err := rs.Execute(context.Background(), approvedFacts(), asActions(fakes), ExecOptions{DryRun: true, Checkpoints: cp})
	if err != nil {
		t.Fatal(err)
	}
	planned := 0
	for name, f := range fakes {
		for _, c := range f.calls {
			if !strings.HasPrefix(c, "plan ") {
				t.Errorf("%s: %s in a dry-run", name, c)
			}
			planned++
		}
	}
	if planned == 0 || len(cp.saved) != 1 || rep.Policies[1].Steps[1].Resumed {
		t.Errorf("planned %d, checkpoints %v, steps %+v", planned, cp.saved, rep.Policies[1].Steps)
	}
}

// A when that reads a config key without a value (a built-in key the
// daemon left nil) says so, rather than only expr's "interface conversion".
func TestMissingConfigValueIsExplained(t *testing.T) {
	rs, err := LoadFiles(map[string][]byte{"p.yaml": []byte(`
policies:
  - name: p
    on: [updated]
    when: config.publish_alerts and app.published
    steps: [{action: log, with: {message: x}}]
`)}, LoadOptions{Specs: testSpecs, Builtin: map[string]any{"publish_alerts": nil}})
	if err != nil {
		t.Fatal(err)
	}
	m := rs.Evaluate(appFacts([]string{"updated"}, nil, nil))[0]
	want := "when failed: interface conversion: interface {} is nil, not bool: a value is missing (nil); is a config.<key> it reads not set? `?? default` gives one"
	if m.Matched || m.Reason != want {
		t.Errorf("reason %q\nwant   %q", m.Reason, want)
	}
}

// runOnly is an action that cannot plan: only Spec and Run.
type runOnly struct {
	spec ActionSpec
	runs int
}

func (a *runOnly) Spec() ActionSpec { return a.spec }
func (a *runOnly) Run(ctx context.Context, in *StepInput) (Result, error) {
	a.runs++
	return Result{Status: StatusDone}, nil
}

// Planning is optional: a dry-run plans an action that is no Planner from
// its spec, and never runs it.
func TestDryRunPlansFromTheSpecWithoutPlanner(t *testing.T) {
	rs := mustLoad(t, `
policies:
  - name: p
    on: [updated]
    steps:
      - {id: tag, action: tag, with: {name: Promoted}}
`)
	acts := asActions(fakeActions())
	tag := &runOnly{spec: testSpecs["tag"]}
	acts["tag"] = tag
	rep, err := rs.Execute(context.Background(), approvedFacts(), acts, ExecOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	s := rep.Policies[0].Steps[0]
	if s.Result.Status != StatusPlanned || s.Result.Summary != "would run tag: add or remove a tag" || s.Err != "" || tag.runs != 0 {
		t.Errorf("step %+v, runs %d", s, tag.runs)
	}
}

// A report lists every policy's steps as a list ([] when it did not match)
// and every step's params ({} when none), and tells the defaults apart
// from what the step gives.
func TestReportShape(t *testing.T) {
	rs := mustLoad(t, `
policies:
  - name: never
    on: [deleted]
    steps: [{action: log, with: {message: x}}]
  - name: p
    on: [updated]
    steps:
      - {id: skipped, action: log, if: "false", with: {message: x}}
      - {id: tag, action: tag, with: {name: Promoted}}
`)
	rep, err := rs.Execute(context.Background(), approvedFacts(), asActions(fakeActions()), ExecOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"name":"never","file":"p.yaml","matched":false,`, `"actions":[]`, `"id":"skipped","action":"log","params":{}`,
		`"id":"tag","action":"tag","params":{"name":"Promoted","remove":false},"defaulted":["remove"]`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("report lacks %s:\n%s", want, b)
		}
	}
}
