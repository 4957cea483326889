package engine

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/qs-promoter/qs-promoter/qrs"
)

func mustLoad(t testing.TB, yamlText string) *Ruleset {
	t.Helper()
	rs, err := LoadFiles(map[string][]byte{"p.yaml": []byte(yamlText)}, testOpts)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return rs
}

// appFacts builds facts for an app with the given custom properties.
func appFacts(kinds []string, props map[string][]string, mutate func(*Facts)) *Facts {
	f := &Facts{
		Event: EventFacts{Kind: kinds[0], Kinds: kinds, Site: "dev"},
		App: AppFacts{ID: "a1", Name: "Sales", Published: true, Properties: props, Tags: []string{},
			Stream: StreamFacts{ID: "s1", Name: "Review", Properties: map[string][]string{}},
			Owner:  OwnerFacts{Email: "sam@example.com", Account: `CORP\sam`}},
		Config: map[string]any{"auto_unpublish": false, "review_emails": map[string]any{}, "hub": "hub.example.com"},
	}
	if mutate != nil {
		mutate(f)
	}
	return f
}

func TestMatching(t *testing.T) {
	const policies = `
policies:
  - name: approve
    on: [updated]
    when: >
      app.published
      and lower(first(app.properties.PromotionApproval)) contains "approve"
      and len(targets(app.properties.PromoteToServer)) > 0
    steps: [{action: log, with: {message: approved}}]
  - name: deny
    on: updated
    when: app.published and lower(prop(app.properties, "promotionapproval")) contains "den"
    steps: [{action: log, with: {message: denied}}]
    stop: true
  - name: after-deny
    on: [updated, published]
    steps: [{action: log, with: {message: always}}]
  - name: reload
    on: [reloaded]
    when: is_true(app.properties.PromoteOnReload) and has_tag(app.tags, "promoteonreload")
    steps: [{action: log, with: {message: reload}}]
`
	rs := mustLoad(t, policies)
	tests := []struct {
		name    string
		facts   *Facts
		matched []string
		reasons map[string]string
	}{
		{"approved", appFacts([]string{"updated"}, map[string][]string{"PromotionApproval": {"Approve"}, "PromoteToServer": {"Test - Overwrite"}}, nil),
			[]string{"approve", "after-deny"},
			map[string]string{"approve": "the event is updated and all 3 when clauses are true", "deny": `when clause 2 of 2 is false: lower(prop(app.properties, "promotionapproval")) contains "den"`}},
		{"approved but no valid target", appFacts([]string{"updated"}, map[string][]string{"PromotionApproval": {"approve"}, "PromoteToServer": {"qa - Overwrite", "test"}}, nil),
			[]string{"after-deny"},
			map[string]string{"approve": "when clause 3 of 3 is false: len(targets(app.properties.PromoteToServer)) > 0"}},
		{"unpublished", appFacts([]string{"updated"}, map[string][]string{"PromotionApproval": {"Approve"}}, func(f *Facts) { f.App.Published = false }),
			[]string{"after-deny"},
			map[string]string{"approve": "when clause 1 of 3 is false: app.published"}},
		{"denied stops later policies", appFacts([]string{"updated"}, map[string][]string{"PromotionApproval": {"Denied"}}, nil),
			[]string{"deny"},
			map[string]string{"after-deny": `not evaluated: policy "deny" matched and has stop: true`}},
		{"reload", appFacts([]string{"reloaded", "updated"}, map[string][]string{"PromoteOnReload": {"TRUE"}}, func(f *Facts) { f.App.Tags = []string{"PromoteOnReload"} }),
			[]string{"after-deny", "reload"}, nil},
		{"kind not listed", appFacts([]string{"created"}, nil, nil),
			nil,
			map[string]string{"approve": "on: the event is created, the policy runs on updated"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, m := range rs.Evaluate(tt.facts) {
				if m.Matched {
					got = append(got, m.Policy.Name)
				}
				if want, ok := tt.reasons[m.Policy.Name]; ok && m.Reason != want {
					t.Errorf("%s: reason %q, want %q", m.Policy.Name, m.Reason, want)
				}
			}
			if strings.Join(got, ",") != strings.Join(tt.matched, ",") {
				t.Errorf("matched %v, want %v", got, tt.matched)
			}
		})
	}
}

func TestNewFactsFromRecordedEvent(t *testing.T) {
	ev, err := ReadEventFile("testdata/events/published-to-review.json")
	if err != nil {
		t.Fatal(err)
	}
	f, err := NewFacts(ev, nil)
	if err != nil {
		t.Fatal(err)
	}
	if f.Event.Kind != KindPublished || strings.Join(f.Event.Kinds, ",") != "published,updated" {
		t.Errorf("kinds %q %v", f.Event.Kind, f.Event.Kinds)
	}
	if f.App.Owner.Email != "sam.rep@example.com" || f.App.Owner.Account != `CORP\sales_rep` {
		t.Errorf("owner %+v", f.App.Owner)
	}
	if got := f.App.Stream.Properties["EmailAlertOnPublishTo"]; len(got) != 1 || got[0] != "True" {
		t.Errorf("stream properties %v", f.App.Stream.Properties)
	}
	if f.Event.OriginatorHost != "qlik-dev.example.com" || f.App.PublishTime.IsZero() || f.App.FileSize != 48213504 {
		t.Errorf("facts %+v", f)
	}
	if _, err := NewFacts(&Event{Site: "dev"}, nil); err == nil || !strings.Contains(err.Error(), "no app") {
		t.Errorf("event without app: %v", err)
	}
}

func TestEventKinds(t *testing.T) {
	ci := func(ct qrs.ChangeType, props ...string) qrs.ChangeInfo {
		return qrs.ChangeInfo{ChangeType: ct, ObjectType: "App", ChangedProperties: props}
	}
	tests := []struct {
		ev   Event
		want string
	}{
		{Event{Notification: []qrs.ChangeInfo{ci(qrs.ChangeAdd)}}, "created"},
		{Event{Notification: []qrs.ChangeInfo{ci(qrs.ChangeDelete)}}, "deleted"},
		{Event{Notification: []qrs.ChangeInfo{ci(qrs.ChangeUpdate, "modifiedDate", "customProperties")}}, "updated"},
		{Event{Notification: []qrs.ChangeInfo{ci(qrs.ChangeUpdate, "stream")}}, "published,updated"},
		{Event{Notification: []qrs.ChangeInfo{ci(qrs.ChangeUpdate, "lastReloadTime")}}, "reloaded,updated"},
		{Event{Kind: "reconciled"}, "reconciled"},
		{Event{Kind: "manual", Notification: []qrs.ChangeInfo{ci(qrs.ChangeUpdate)}}, "manual,updated"},
	}
	for _, tt := range tests {
		tt.ev.App = &qrs.App{ID: "a"}
		f, err := NewFacts(&tt.ev, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(f.Event.Kinds, ","); got != tt.want {
			t.Errorf("%+v: kinds %s, want %s", tt.ev.Notification, got, tt.want)
		}
	}
}

func TestReadEventErrors(t *testing.T) {
	tests := map[string]string{
		`{"site": "dev", "app": {"id": "x"}, "apps": 1}`: `unknown key "apps" in the event; did you mean "app"?`,
		`{"site": "dev"}`: `the event has no "app"`,
		"{\"site\": \"dev\",\n \"app\": {\"id\": 1}}": "app.id holds a JSON number, want a string",
		"{\"site\": \"dev\",\n \"app\": }":            "line 2, column 10: invalid character",
		`{"app": {"id": "x"}, "kind": "sometimes"}`:   `kind "sometimes" is unknown`,
	}
	for in, want := range tests {
		_, err := ReadEvent(strings.NewReader(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want it to contain %q", in, err, want)
		}
	}
}

func TestExecuteDryRunOnRecordedEvent(t *testing.T) {
	rs, err := Load("testdata/policies", testOpts)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := ReadEventFile("testdata/events/published-to-review.json")
	if err != nil {
		t.Fatal(err)
	}
	f, err := NewFacts(ev, map[string]any{"auto_unpublish": true, "hub": "qlik-dev.example.com",
		"review_emails": map[string]any{"90081726-8077-4a1b-8320-86986ac3e55c": []string{"boss@example.com", "lead@example.com"}}})
	if err != nil {
		t.Fatal(err)
	}
	fakes := fakeActions()
	rep, err := rs.Execute(context.Background(), f, asActions(fakes), ExecOptions{DryRun: true, ExecutionID: "x1"})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Failed() {
		t.Fatalf("failed: %+v", rep)
	}
	alert := rep.Policies[0]
	if !alert.Matched || len(alert.Steps) != 1 {
		t.Fatalf("alert-review: %+v", alert)
	}
	p := alert.Steps[0].Params
	if got := strings.Join(p.Strings("to"), ","); got != "boss@example.com,lead@example.com" {
		t.Errorf("to: %q", got)
	}
	if got := p.String("subject"); got != "'Sales Pipeline' published to: 'Sales Review'" {
		t.Errorf("subject: %q", got)
	}
	wantBody := "App: Sales Pipeline\nOwner: CORP\\sales_rep\nPublished by: CORP\\sales_rep\nStream: Sales Review\nLink: https://qlik-dev.example.com/sense/app/3b2c1f9e-7a44-4d0b-8f3e-2c9a1d5e7b21\n"
	if got := p.String("body"); got != wantBody {
		t.Errorf("body:\n%s\nwant:\n%s", got, wantBody)
	}
	if alert.Steps[0].Result.Status != StatusPlanned || fakes["email"].calls[0] != "plan alert-review/email" {
		t.Errorf("result %+v calls %v", alert.Steps[0].Result, fakes["email"].calls)
	}
	promote := rep.Policies[1]
	if promote.Matched || promote.Reason != `when clause 2 of 5 is false: lower(first(app.properties.PromotionApproval)) contains "approve"` {
		t.Errorf("promote-approved: %+v", promote)
	}
	if _, err := json.Marshal(rep); err != nil {
		t.Errorf("report is not JSON: %v", err)
	}
}

// memCheckpoints is an in-memory Checkpoints.
type memCheckpoints struct {
	saved  map[string]Result
	failOn string
}

func (m *memCheckpoints) Load(k string) (Result, bool) { r, ok := m.saved[k]; return r, ok }
func (m *memCheckpoints) Save(k string, r Result) error {
	if k == m.failOn {
		return errors.New("disk full")
	}
	m.saved[k] = r
	return nil
}
func (m *memCheckpoints) Journal(k string) Journal { return nil }

func approvedFacts() *Facts {
	return appFacts([]string{"updated"}, map[string][]string{
		"PromotionApproval": {"Approve"}, "PromoteToServer": {"test - Overwrite", "PROD - duplicate"}, "PromoteToStream": {"Everyone", "Sales"},
	}, nil)
}

func TestExecuteRunsStepsInOrderWithResults(t *testing.T) {
	rs, err := Load("testdata/policies", testOpts)
	if err != nil {
		t.Fatal(err)
	}
	fakes := fakeActions()
	fakes["promote"].vals = map[string]any{"apps": []string{"n1", "n2"}}
	cp := &memCheckpoints{saved: map[string]Result{}}
	rep, err := rs.Execute(context.Background(), approvedFacts(), asActions(fakes), ExecOptions{ExecutionID: "e1", Checkpoints: cp})
	if err != nil {
		t.Fatal(err)
	}
	pr := rep.Policies[1]
	if !pr.Matched || len(pr.Steps) != 4 {
		t.Fatalf("%+v", pr)
	}
	promote := pr.Steps[1]
	if got := promote.Params.Targets("targets"); len(got) != 2 || got[0] != (Target{"test", "overwrite"}) || got[1] != (Target{"prod", "duplicate"}) {
		t.Errorf("targets %v", got)
	}
	if !pr.Steps[2].Skipped {
		t.Errorf("unpublish should be skipped by its if (auto_unpublish false): %+v", pr.Steps[2])
	}
	if got := pr.Steps[3].Params.String("body"); !strings.HasPrefix(got, "promote streams=[Everyone Sales] targets=[test - Overwrite prod - Duplicate] version=false") {
		t.Errorf("results body %q", got)
	}
	if len(cp.saved) != 3 {
		t.Errorf("checkpoints %v", cp.saved)
	}
	// A resumed execution reuses the checkpoints and runs nothing again.
	again := fakeActions()
	rep2, err := rs.Execute(context.Background(), approvedFacts(), asActions(again), ExecOptions{ExecutionID: "e1", Checkpoints: cp})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(again["email"].calls) + len(again["promote"].calls); n != 0 {
		t.Errorf("resumed execution ran %d steps again", n)
	}
	if !rep2.Policies[1].Steps[1].Resumed {
		t.Errorf("not marked resumed")
	}
}

func TestExecuteFailures(t *testing.T) {
	const policies = `
policies:
  - name: p
    on: [updated]
    steps:
      - {id: first, action: log, with: {message: one}, on_error: continue}
      - {id: second, action: log, with: {message: "{{ steps.first.status }}"}}
      - {id: gone, action: unpublish}
      - {id: last, action: log, with: {message: three}}
`
	rs := mustLoad(t, policies)
	fakes := fakeActions()
	fakes["log"].fail["p/first"] = errors.New("boom")
	rep, err := rs.Execute(context.Background(), approvedFacts(), asActions(fakes), ExecOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s := rep.Policies[0].Steps
	if s[0].Err != "boom" || s[0].Result.Status != StatusFailed {
		t.Errorf("first: %+v", s[0])
	}
	if s[1].Err != "" || s[1].Params.String("message") != "failed" {
		t.Errorf("second ran after continue and sees the failure: %+v", s[1])
	}
	if !s[2].NotRun || !strings.Contains(s[2].Err, "never runs after a failure") {
		t.Errorf("destructive step ran after a failure: %+v", s[2])
	}
	if s[3].NotRun || s[3].Err != "" {
		t.Errorf("last: %+v", s[3])
	}
	if !rep.Failed() {
		t.Error("report not failed")
	}
	if got := strings.Join(fakes["unpublish"].calls, ","); got != "" {
		t.Errorf("unpublish called: %s", got)
	}

	// Without continue, a failure stops the later steps.
	fakes = fakeActions()
	fakes["log"].fail["p/second"] = errors.New("bang")
	rep, _ = rs.Execute(context.Background(), approvedFacts(), asActions(fakes), ExecOptions{})
	s = rep.Policies[0].Steps
	if !s[2].NotRun || !s[3].NotRun || s[3].Err != "not run: step second failed" {
		t.Errorf("later steps: %+v %+v", s[2], s[3])
	}

	// A checkpoint that cannot be saved aborts the execution for a retry.
	cp := &memCheckpoints{saved: map[string]Result{}, failOn: "p/first"}
	if _, err := rs.Execute(context.Background(), approvedFacts(), asActions(fakeActions()), ExecOptions{Checkpoints: cp}); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("checkpoint failure: %v", err)
	}
}

// TestDocExamples compiles and runs the examples of docs/policy-language.md.
func TestDocExamples(t *testing.T) {
	rs := mustLoad(t, `
policies:
  - name: docs
    on: [updated]
    when: >
      "reloaded" not in event.kinds
      and app.file_size < 500 * 1024 * 1024
      and not ("x" in app.tags)
      and prop(app.stream.properties, "emailalertonpublishto") == ""
      and len(props(app.properties, "promotetostream")) == 2
      and len(bad_targets(app.properties.PromoteToServer)) == 0
    vars:
      targets: targets(app.properties.PromoteToServer)
    steps:
      - id: approved-mail
        action: log
        with: {message: "{{ join(sites(vars.targets), \", \") }} {{ vars.targets[0].site }}"}
      - id: second
        action: log
        with:
          message: '{{ "{{" }} {{ steps["approved-mail"].status }} {{ upper(trim("  x ")) }}'
          data: "{{ vars.targets }}"
`)
	rep, err := rs.Execute(context.Background(), approvedFacts(), asActions(fakeActions()), ExecOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	p := rep.Policies[0]
	if !p.Matched || len(p.Steps) != 2 {
		t.Fatalf("%+v", p)
	}
	if got := p.Steps[0].Params.String("message"); got != "test, prod test" {
		t.Errorf("message %q", got)
	}
	if got := p.Steps[1].Params.String("message"); got != "{{ planned X" {
		t.Errorf("message %q", got)
	}
	if got, ok := p.Steps[1].Params["data"].([]Target); !ok || len(got) != 2 {
		t.Errorf("data %#v", p.Steps[1].Params["data"])
	}
}

func TestParamConversions(t *testing.T) {
	rs := mustLoad(t, `
policies:
  - name: p
    on: [updated]
    steps:
      - id: html
        action: email
        with:
          to: ["{{ app.owner.email }}", "", "{{ ['a@x', 'b@x'] }}", fixed@x]
          subject: "{{ app.name }}"
          html: "<b>{{ app.name }}</b>"
      - id: line
        action: email
        on_error: continue
        with: {to: x@y, subject: "Re: {{ app.description }}"}
      - id: promote
        action: promote
        with:
          targets: ["{{ first(app.properties.PromoteToServer) }}", {site: PROD, mode: Duplicate}, "{{ 'qa - Overwrite' }}"]
          streams: Everyone
`)
	f := approvedFacts()
	f.App.Name = `<Sales & "Co">`
	f.App.Description = "two\nlines"
	rep, _ := rs.Execute(context.Background(), f, asActions(fakeActions()), ExecOptions{DryRun: true})
	s := rep.Policies[0].Steps
	if got := strings.Join(s[0].Params.Strings("to"), ","); got != "sam@example.com,a@x,b@x,fixed@x" {
		t.Errorf("to %q", got)
	}
	if got := s[0].Params.String("html"); got != "<b>&lt;Sales &amp; &#34;Co&#34;&gt;</b>" {
		t.Errorf("html %q", got)
	}
	if s[0].Params.String("subject") != `<Sales & "Co">` {
		t.Errorf("subject %q", s[0].Params.String("subject"))
	}
	if !strings.Contains(s[1].Err, "line break") {
		t.Errorf("a one-line parameter took a line break: %+v", s[1])
	}
	if !strings.Contains(s[2].Err, `unknown site "qa"`) {
		t.Errorf("bad target not reported: %+v", s[2])
	}
}
