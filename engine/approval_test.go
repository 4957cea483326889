package engine

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/qs-promoter/qs-promoter/qrs"
)

// An approval value keeps who set it, whoever changed the app after; the
// stream's approvers come from config.approvers; the setters' e-mail from
// the event's users.
func TestNewFactsKnowsWhoSetEachValue(t *testing.T) {
	def := qrs.CustomPropertyDefinitionCondensed{ID: "d1", Name: "PromotionApproval"}
	ev := &Event{Site: "dev",
		App: &qrs.App{ID: "a1", Name: "Sales", ModifiedByUserName: `CORP\later_editor`,
			Owner:  qrs.UserCondensed{ID: "u1", UserID: "rep", UserDirectory: "CORP"},
			Stream: &qrs.StreamCondensed{ID: "90081726-8077-4A1B-8320-86986AC3E55C", Name: "Review"},
			CustomProperties: []qrs.CustomPropertyValue{
				{Value: "Approve", Definition: def, ModifiedByUserName: `CORP\manager`},
				{Value: "test - Overwrite", Definition: qrs.CustomPropertyDefinitionCondensed{Name: "PromoteToServer"}, ModifiedByUserName: `CORP\rep`},
			}},
		Setters: []*qrs.User{
			{ID: "u2", UserID: "manager", UserDirectory: "CORP", Name: "Morgan", Attributes: []qrs.UserAttribute{{AttributeType: "Email", AttributeValue: "morgan@example.com"}}},
			{ID: "u1", UserID: "rep", UserDirectory: "CORP"}, // the owner: not a setter fact
			nil,
		},
	}
	config := map[string]any{ApproversKey: map[string][]string{"90081726-8077-4a1b-8320-86986ac3e55c": {"morgan@example.com", `CORP\boss`}}}
	f, err := NewFacts(ev, config)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.App.SetterOf("promotionapproval"); got != `CORP\manager` {
		t.Errorf("SetterOf = %q, want CORP\\manager (not the app's last modifier)", got)
	}
	if got := f.App.SetBy["PromoteToServer"]; len(got) != 1 || got[0] != `CORP\rep` {
		t.Errorf("set_by %v", f.App.SetBy)
	}
	if len(f.App.Setters) != 1 || f.App.Setters[0] != (UserFacts{Account: `CORP\manager`, Name: "Morgan", Email: "morgan@example.com"}) {
		t.Errorf("setters %+v", f.App.Setters)
	}
	if strings.Join(f.App.Stream.Approvers, ",") != `morgan@example.com,CORP\boss` {
		t.Errorf("stream approvers %v", f.App.Stream.Approvers)
	}
	// Another stream's list is not this app's.
	ev.App.Stream.ID = "other"
	if f, _ = NewFacts(ev, config); f.App.Stream.Approvers == nil || len(f.App.Stream.Approvers) != 0 {
		t.Errorf("approvers of a stream without a list: %#v", f.App.Stream.Approvers)
	}
}

func TestApproverProblem(t *testing.T) {
	app := func(approvers ...string) *AppFacts {
		return &AppFacts{Owner: OwnerFacts{Account: `CORP\rep`}, Stream: StreamFacts{Name: "Review", Approvers: approvers},
			Setters: []UserFacts{{Account: `CORP\manager`, Email: "Morgan@Example.com"}}}
	}
	for _, c := range []struct {
		name    string
		app     *AppFacts
		account string
		want    string // "" : may approve
	}{
		{"no list: anyone but the owner", app(), `CORP\anyone`, ""},
		{"the owner, any case", app(), `corp\REP`, `corp\REP owns the app; under four eyes someone else must approve it`},
		{"the owner even when listed", app(`CORP\rep`), `CORP\rep`, "owns the app"},
		{"unknown setter", app(), " ", "QRS does not say who set the approval"},
		{"listed by account", app(`corp\Boss`), `CORP\boss`, ""},
		{"listed by e-mail address", app("morgan@example.com"), `CORP\manager`, ""},
		{"not listed", app("boss@example.com", `CORP\boss`), `CORP\manager`,
			`CORP\manager (Morgan@Example.com) is not an approver of stream "Review"; its approvers are boss@example.com, CORP\boss`},
		{"an address without the user's e-mail does not match", app("someone@example.com"), `CORP\stranger`, `CORP\stranger is not an approver`},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := c.app.ApproverProblem(c.account)
			if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
				t.Errorf("ApproverProblem(%q) = %q, want %q", c.account, got, c.want)
			}
		})
	}
}

// The helpers as a policy uses them, and a KindAny parameter written as a
// YAML mapping whose strings are templates (a webhook's JSON body).
func TestFourEyesHelpersAndTemplatedMapping(t *testing.T) {
	rs := mustLoad(t, `
policies:
  - name: refused
    on: [updated]
    when: not may_approve(app, prop(app.set_by, "PromotionApproval"))
    steps:
      - action: log
        with:
          message: "{{ approver_problem(app, prop(app.set_by, 'PromotionApproval')) }}"
          data:
            text: "{{ app.name }} by {{ prop(app.set_by, 'PromotionApproval') }}"
            targets: "{{ app.properties.PromoteToServer }}"
            fixed: [1, true, "x", {deep: "{{ app.stream.name }}"}]
`)
	f := approvedFacts()
	f.App.Name = `Sales "Q1"`
	f.App.SetBy = map[string][]string{"PromotionApproval": {`CORP\sam`}}
	rep, err := rs.Execute(context.Background(), f, asActions(fakeActions()), ExecOptions{DryRun: true})
	if err != nil || !rep.Policies[0].Matched {
		t.Fatalf("a self-approval did not match: %v %+v", err, rep)
	}
	s := rep.Policies[0].Steps[0]
	if got := s.Params.String("message"); got != `CORP\sam owns the app; under four eyes someone else must approve it` {
		t.Errorf("message %q", got)
	}
	b, _ := json.Marshal(s.Params["data"])
	want := `{"fixed":[1,true,"x",{"deep":"Review"}],"targets":["test - Overwrite","PROD - duplicate"],"text":"Sales \"Q1\" by CORP\\sam"}`
	if string(b) != want {
		t.Errorf("data\n got %s\nwant %s", b, want)
	}
	f.App.SetBy = map[string][]string{"PromotionApproval": {`CORP\manager`}}
	if rep, _ = rs.Execute(context.Background(), f, asActions(fakeActions()), ExecOptions{DryRun: true}); rep.Policies[0].Matched {
		t.Errorf("an approval by another person was refused: %s", rep.Policies[0].Reason)
	}
	// A mistake inside the mapping is a load error at its position.
	_, err = LoadFiles(map[string][]byte{"p.yaml": []byte("policies:\n  - name: p\n    on: [updated]\n    steps:\n      - action: log\n        with:\n          message: m\n          data: {text: \"{{ app.nmae }}\"}\n")}, testOpts)
	if err == nil || !strings.Contains(err.Error(), `p.yaml:8:32: app has no "nmae"`) {
		t.Errorf("err = %v", err)
	}
}
