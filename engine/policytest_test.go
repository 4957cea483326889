package engine

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunTestsPass(t *testing.T) {
	var out bytes.Buffer
	failed, err := RunTests("testdata/policies", testOpts, nil, &out)
	if err != nil {
		t.Fatal(err)
	}
	if failed != 0 || !strings.Contains(out.String(), "ok    testdata/policies: 4 cases passed") {
		t.Fatalf("failed %d:\n%s", failed, out.String())
	}
	if !strings.Contains(out.String(), "ok    testdata/policies/approval_test.yaml:9: publishing to a review stream alerts the reviewers\n") {
		t.Errorf("per-case line missing:\n%s", out.String())
	}
}

func TestRunTestsFailures(t *testing.T) {
	dir := t.TempDir()
	policy, err := os.ReadFile("testdata/policies/approval.yaml")
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("approval.yaml", string(policy))
	write("approval_test.yaml", `cases:
  - name: wrong expectations
    app:
      published: true
      properties: {PromotionApproval: approve, PromoteToServer: test - Overwrite, PromoteToStream: Everyone}
    expect:
      matched: [alert-review]
      steps:
        - step: promote-approved/promote
          params: {streams: [Sales]}
`)
	var out bytes.Buffer
	failed, err := RunTests(dir, testOpts, nil, &out)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"FAIL  " + dir + "/approval_test.yaml:2: wrong expectations",
		"      matched: got [promote-approved], want [alert-review]",
		"        alert-review did not match: on: the event is updated, the policy runs on published",
		"      steps: got [promote-approved/approved-mail, promote-approved/promote, promote-approved/unpublish, promote-approved/results-mail], want [promote-approved/promote]",
		`      step promote-approved/promote (line 9): streams = "Everyone", want "Sales"`,
		"FAIL  " + dir + ": 1 of 1 cases failed",
	}
	if failed != 1 {
		t.Errorf("failed = %d", failed)
	}
	for _, w := range want {
		if !strings.Contains(out.String(), w) {
			t.Errorf("output lacks %q:\n%s", w, out.String())
		}
	}

	// A test file with mistakes is reported with positions, like a policy.
	write("approval_test.yaml", `cases:
  - name: typos
    app: {publishd: true}
    config: {auto_unpublsh: true}
    expect:
      matched: [promote-aproved]
      stepz: []
  - name: more typos
    event: {kind: update}
    app: {file_size: big}
    expect:
      steps: [promote-approved/promot]
      skipped: [promote-approved/unpublsh]
`)
	_, err = RunTests(dir, testOpts, nil, &out)
	for _, w := range []string{
		`approval_test.yaml:3:11: app has no "publishd"; did you mean "published"?`,
		`approval_test.yaml:4:14: unknown key "auto_unpublsh" in config; did you mean "auto_unpublish"? (known: auto_unpublish, hub, review_emails)`,
		`approval_test.yaml:6:16: no policy is named "promote-aproved"; did you mean "promote-approved"?`,
		`approval_test.yaml:7:7: unknown key "stepz" in expect; did you mean "steps"?`,
		`approval_test.yaml:9:12: unknown event kind "update"; did you mean "updated"? (known: created, updated, published, reloaded, deleted, reconciled, manual)`,
		`approval_test.yaml:10:22: app.file_size wants a whole number, not "big"`,
		`approval_test.yaml:12:15: no step is named "promote-approved/promot"; did you mean "promote-approved/promote"?`,
		`approval_test.yaml:13:17: no step is named "promote-approved/unpublsh"; did you mean "promote-approved/unpublish"?`,
	} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q: %v", w, err)
		}
	}
}

// An indentation slip in a policy test file is reported on its line.
func TestRunTestsIndentationSlip(t *testing.T) {
	dir := t.TempDir()
	policy, err := os.ReadFile("testdata/policies/approval.yaml")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "approval.yaml"), policy, 0o644)
	test := filepath.Join(dir, "approval_test.yaml")
	os.WriteFile(test, []byte("cases:\n  - name: slip\n    app: {published: true}\n   expect: {matched: []}\n"), 0o644)
	var out bytes.Buffer
	_, err = RunTests(dir, testOpts, nil, &out)
	want := test + ":4:4: YAML syntax: this line is indented by 3 spaces, which lines up with no line above it (4 on line 3, 2 on line 2, 0 on line 1): indent it as the keys it belongs with"
	if err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
}
