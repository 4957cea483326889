package actions

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/qs-promoter/qs-promoter/engine"
	"github.com/qs-promoter/qs-promoter/qrs"
)

// Offline plans get a Deps with no site, mailer or bucket: anything that
// tried to contact one would fail or panic, so these tests also show that
// no network is needed.

const offlineName = `'Sales "Q1" {{ app.id }} <b>'`

func promoteParams() engine.Params {
	return engine.Params{
		"targets": []engine.Target{{Site: "test", Mode: "Overwrite"}, {Site: "prod", Mode: "duplicate"}},
		"streams": []string{"Everyone", "Sales"},
	}
}

// offlinePromote plans the promotion of testFacts' app offline.
func offlinePromote(t *testing.T, acts map[string]engine.Action) engine.Result {
	t.Helper()
	a := acts["promote"]
	res, err := a.(engine.Planner).Plan(context.Background(), stepIn(t, a, promoteParams()))
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestOfflinePlans(t *testing.T) {
	acts := New(Deps{Offline: true})
	promoted := offlinePromote(t, acts)
	cases := []struct {
		action string
		params engine.Params
		status engine.Status
		want   string
	}{
		{"promote", promoteParams(), engine.StatusPlanned, "would promote " + offlineName + " to site test (overwrite) into streams Everyone, Sales; to site prod (duplicate) into streams Everyone, Sales (sites not contacted: use dry-run --live for the exact apps)"},
		{"describe", engine.Params{"apps": promoted.Values["apps"], "text": "promoted"}, engine.StatusPlanned, `would set the description of 4 apps to “promoted”`},
		{"s3-version", nil, engine.StatusPlanned, "would version " + offlineName + " (exported without data from site dev) as s3://(configured bucket)/" + `Sales "Q1" {{ app.id }} <b>-Template.qvf`},
		{"duplicate-to-owner", engine.Params{"name": "Mine"}, engine.StatusPlanned, "would copy app 3b2c1a00… " + offlineName + ` on site dev as 'Mine' owned by COMPANY\rep`},
		{"unpublish", nil, engine.StatusPlanned, "would copy app 3b2c1a00… " + offlineName + ` to COMPANY\rep, verify the copy, then delete the published app from stream 'Review' on site dev`},
		{"remove-custom-properties", engine.Params{"names": []string{"promotetoserver", "Missing"}}, engine.StatusPlanned, "would remove 'PromoteToServer=test - Overwrite', 'PromoteToServer=prod - Duplicate' from app 3b2c1a00… " + offlineName + " on site dev"},
		{"set-custom-property", engine.Params{"name": "Stage", "values": []string{"QA"}}, engine.StatusPlanned, "would set 'Stage' of app 3b2c1a00… " + offlineName + " on site dev to 'QA' (the property's definition is checked on the site)"},
		{"add-tag", engine.Params{"tag": "Promote"}, engine.StatusPlanned, "would tag app 3b2c1a00… " + offlineName + " on site dev with 'Promote' (creating the tag if the site has none)"},
		{"add-tag", engine.Params{"tag": "certified"}, engine.StatusSkipped, "would do nothing: app 3b2c1a00… " + offlineName + " already has tag 'certified'"},
		{"remove-tag", engine.Params{"tag": "certified"}, engine.StatusPlanned, "would remove tag 'certified' from app 3b2c1a00… " + offlineName + " on site dev"},
		{"remove-tag", engine.Params{"tag": "Promote"}, engine.StatusSkipped, "would do nothing: app 3b2c1a00… " + offlineName + " has no tag 'Promote'"},
		{"email", engine.Params{"to": []string{"rita@example.com"}, "template": "results"}, engine.StatusPlanned, "would e-mail “" + offlineName + " promotion results” to rita@example.com"},
		{"webhook", engine.Params{"template": "results"}, engine.StatusPlanned, "would post “" + offlineName + " promotion results” to every configured webhook"},
	}
	for _, c := range cases {
		a := acts[c.action]
		in := stepIn(t, a, c.params)
		in.Facts.App.Tags = []string{"Certified"}
		in.Results["promote"] = promoted
		res, err := a.(engine.Planner).Plan(context.Background(), in)
		if err != nil {
			t.Errorf("%s: %v", c.action, err)
			continue
		}
		if res.Status != c.status || res.Summary != c.want {
			t.Errorf("%s: %s: %s\nwant %s: %s", c.action, res.Status, res.Summary, c.status, c.want)
		}
		for _, d := range res.Details {
			if strings.Contains(d, "not configured") {
				t.Errorf("%s: detail %q", c.action, d)
			}
		}
	}
}

func TestOfflinePromoteValues(t *testing.T) {
	res := offlinePromote(t, New(Deps{Offline: true}))
	var apps []PromotedApp
	for _, v := range appsOf(t, res) {
		if v.AppID != "" || v.URL != "" || v.Name != `Sales "Q1" {{ app.id }} <b>` {
			t.Errorf("planned entry %+v", v)
		}
		apps = append(apps, PromotedApp{Site: v.Site, Stream: v.Stream, Action: v.Action})
	}
	want := []PromotedApp{
		{Site: "test", Stream: "Everyone", Action: "overwrite"}, {Site: "test", Stream: "Sales", Action: "overwrite"},
		{Site: "prod", Stream: "Everyone", Action: "duplicate"}, {Site: "prod", Stream: "Sales", Action: "duplicate"},
	}
	if len(apps) != len(want) {
		t.Fatalf("apps %+v", apps)
	}
	for i := range want {
		if apps[i] != want[i] {
			t.Errorf("apps[%d] = %+v, want %+v", i, apps[i], want[i])
		}
	}
	if f := res.Values["failures"].([]any); len(f) != 0 {
		t.Errorf("failures %v", f)
	}
}

// With a known set of sites, an offline plan still reports a target that is
// not one of them, without contacting the known ones.
func TestOfflinePromoteUnknownSite(t *testing.T) {
	acts := New(Deps{Offline: true, Sites: map[string]*qrs.Client{"prod": new(qrs.Client)}})
	res := offlinePromote(t, acts)
	if !strings.HasPrefix(res.Summary, "would promote "+offlineName+" to site prod (duplicate)") || !strings.HasSuffix(res.Summary, "; failed on test") {
		t.Errorf("summary %s", res.Summary)
	}
	if !containsLine(res.Details, "site test failed: site 'test' is not configured: add it to sites in the configuration") {
		t.Errorf("details %q", res.Details)
	}
}

func TestOfflineRunRefuses(t *testing.T) {
	for name, a := range New(Deps{Offline: true}) {
		_, err := a.Run(context.Background(), stepIn(t, a, nil))
		if !errors.Is(err, errOffline) {
			t.Errorf("%s: Run offline: %v", name, err)
		}
	}
}

// An action that is no offlinePlanner is planned offline from its spec,
// and still refuses to run.
func TestOfflineWithoutOfflinePlan(t *testing.T) {
	a := offline(runOnly{})
	if _, ok := a.(engine.Planner); ok {
		t.Error("an action without an offline plan plans offline")
	}
	if _, err := a.Run(context.Background(), nil); !errors.Is(err, errOffline) {
		t.Errorf("Run offline: %v", err)
	}
	if _, ok := offline(&addTag{}).(engine.Planner); !ok {
		t.Error("add-tag has an offline plan, but the offline action is no Planner")
	}
}

type runOnly struct{}

func (runOnly) Spec() engine.ActionSpec { return engine.ActionSpec{Name: "run-only"} }
func (runOnly) Run(context.Context, *engine.StepInput) (engine.Result, error) {
	return engine.Result{Status: engine.StatusDone}, nil
}

// The planned S3 key carries the configured prefix (the default one when
// the configuration gives none), and the bucket is named, offline and in a
// live dry-run alike, without any bucket contacted.
func TestPlannedS3KeyHasTheConfiguredPrefix(t *testing.T) {
	for _, c := range []struct {
		cfg  S3Config
		want string
	}{
		{S3Config{Bucket: "versions", Prefix: "Apps/Test/"}, `Apps/Test/Sales "Q1" {{ app.id }} <b>-Template.qvf`},
		{S3Config{Bucket: "versions"}, DefaultS3Prefix + `Sales "Q1" {{ app.id }} <b>-Template.qvf`},
	} {
		cfg := c.cfg
		off := New(Deps{Offline: true, S3Config: &cfg})["s3-version"].(engine.Planner)
		live := &s3Version{d: Deps{S3Config: &cfg, Sites: map[string]*qrs.Client{"dev": new(qrs.Client)}}}
		for name, p := range map[string]engine.Planner{"offline": off, "live": live} {
			res, err := p.Plan(context.Background(), stepIn(t, &s3Version{}, nil))
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if res.Values["key"] != c.want || res.Values["bucket"] != "versions" || !strings.Contains(res.Summary, "s3://versions/"+c.want) {
				t.Errorf("%s: %s %v", name, res.Summary, res.Values)
			}
		}
	}
}

// Offline, describe previews the whole text it would set, with the S3
// version an s3-version step before it plans.
func TestOfflineDescribePreviewsTheText(t *testing.T) {
	acts := New(Deps{Offline: true, S3Config: &S3Config{Bucket: "versions"}})
	promoted := offlinePromote(t, acts)
	in := stepIn(t, acts["s3-version"], nil)
	s3, err := acts["s3-version"].(engine.Planner).Plan(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	in = stepIn(t, acts["describe"], engine.Params{"apps": promoted.Values["apps"], "version_id": s3.Values["version_id"]})
	res, err := acts["describe"].(engine.Planner).Plan(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	want := "App promoted from node: 'qlik-dev.company.com' by: 'COMPANY\\manager' at: '2026-11-27T09:30:05.118Z' where it was owned by: 'COMPANY\\rep'\n\nS3 Version ID: <version ID from S3>"
	if res.Values["description"] != want || len(res.Preview) != 1 || res.Preview[0] != (engine.PreviewField{Name: "description", Value: want}) {
		t.Errorf("description %q, preview %+v\nwant %q", res.Values["description"], res.Preview, want)
	}
}

// Offline, every e-mail is previewed as it would go out: the built-in
// template rendered from the event's facts, its recipients, and the copy.
func TestOfflineEmailPreview(t *testing.T) {
	a := New(Deps{Offline: true})["email"]
	in := stepIn(t, a, engine.Params{"to": []string{"rita@example.com", "Rita@example.com"}, "cc": []string{"boss@example.com"}, "template": "approved"})
	res, err := a.(engine.Planner).Plan(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	fields := map[string]any{}
	var names []string
	for _, f := range res.Preview {
		fields[f.Name] = f.Value
		names = append(names, f.Name)
	}
	body, _ := fields["body"].(string)
	if strings.Join(names, ",") != "to,cc,subject,body" ||
		!slices.Equal(fields["to"].([]string), []string{"rita@example.com"}) || !slices.Equal(fields["cc"].([]string), []string{"boss@example.com"}) ||
		fields["subject"] != `'Sales "Q1" {{ app.id }} <b>' promotion approved by: 'COMPANY\manager'` ||
		!strings.Contains(body, "Target sites:   test - Overwrite, prod - Duplicate\n") {
		t.Errorf("preview %q", res.Preview)
	}
	// A message to no one is previewed too, so that its text can be read.
	in = stepIn(t, a, engine.Params{"template": "denied"})
	in.Facts.App.Owner.Email = ""
	res, err = a.(engine.Planner).Plan(context.Background(), in)
	if err != nil || res.Status != engine.StatusSkipped || len(res.Preview) != 4 || res.Preview[0].Value == nil {
		t.Errorf("no recipient: %v %+v", err, res)
	}
}
