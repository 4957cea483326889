package actions

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/qs-promoter/qs-promoter/engine"
	"github.com/qs-promoter/qs-promoter/qrs"
	"github.com/qs-promoter/qs-promoter/qrs/qrssim"
)

// eventIn is the input of action a for an event about app name on dev.
func eventIn(t *testing.T, sim *qrssim.Sim, a engine.Action, name string, params engine.Params) *engine.StepInput {
	t.Helper()
	in := stepIn(t, a, params)
	dev := sim.Site("dev")
	in.Facts = simFacts(t, dev, simApp(t, dev, name))
	return in
}

func TestUnpublishCopiesVerifiesThenDeletes(t *testing.T) {
	sim, d := testSites(t, "dev")
	dev := sim.Site("dev")
	a := &unpublish{d: d}
	in := eventIn(t, sim, a, "Sales Dashboard", nil)
	src := simApp(t, dev, "Sales Dashboard")
	count := len(dev.Apps())

	res, err := a.Run(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := dev.App(src.ID); ok {
		t.Error("the published app still exists")
	}
	cp, ok := dev.App(res.Values["app_id"].(string))
	if !ok || cp.Published || cp.Name != "Sales Dashboard" || cp.Owner.ID != src.Owner.ID {
		t.Errorf("copy %+v", cp)
	}
	if c1, _ := dev.Content(cp.ID); c1.Size == 0 {
		t.Error("copy has no content")
	}
	// The same step again: nothing more happens.
	if _, err := a.Run(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	if n := len(dev.Apps()); n != count {
		t.Errorf("%d apps after unpublish and a retry, want %d", n, count)
	}
	// A crash after the delete but before the journal noted it: the source
	// is gone (404), which the journal's "deleting" makes a success.
	delete(in.Journal.(*memJournal).m, "deleted")
	if res2, err := a.Run(context.Background(), in); err != nil || res2.Values["app_id"] != cp.ID {
		t.Fatalf("retry after the delete: %v, %v", res2.Values, err)
	}
	if !a.Spec().Destructive {
		t.Error("unpublish must be destructive")
	}
}

func TestUnpublishNeverDeletesUnverifiedCopy(t *testing.T) {
	sim, d := testSites(t, "dev")
	dev := sim.Site("dev")
	a := &unpublish{d: d}
	src := simApp(t, dev, "Sales Dashboard")

	// The facts name another owner than QRS now has: the copy goes to the
	// wrong user, verification fails, nothing is deleted.
	in := eventIn(t, sim, a, "Sales Dashboard", nil)
	mgr, _ := dev.UserByAccount(`CORP\sales_manager`)
	in.Facts.App.Owner.ID, in.Facts.App.Owner.UserID = mgr.ID, mgr.UserID
	_, err := a.Run(context.Background(), in)
	if err == nil || !strings.Contains(err.Error(), "was not deleted") {
		t.Fatalf("err = %v", err)
	}
	if app, ok := dev.App(src.ID); !ok || !app.Published {
		t.Fatal("the published app was deleted or unpublished")
	}

	// The copy itself fails: nothing is deleted either.
	dev.SetFaults(qrssim.Faults{ErrorPaths: []string{"/qrs/app/" + src.ID + "/copy"}, ErrorStatus: 500})
	_, err = a.Run(context.Background(), eventIn(t, sim, a, "Sales Dashboard", nil))
	if err == nil || !strings.Contains(err.Error(), "the published app was not deleted") {
		t.Fatalf("err = %v", err)
	}
	if _, ok := dev.App(src.ID); !ok {
		t.Fatal("the published app was deleted after a failed copy")
	}
}

func TestUnpublishSkipsUnpublishedApp(t *testing.T) {
	sim, d := testSites(t, "dev")
	a := &unpublish{d: d}
	res, err := a.Run(context.Background(), eventIn(t, sim, a, "Sales Pipeline", nil))
	if err != nil || res.Status != engine.StatusSkipped {
		t.Fatalf("res %+v err %v", res, err)
	}
	if w := sim.Site("dev").Writes(); len(w) != 0 {
		t.Errorf("writes: %+v", w)
	}
}

func TestDuplicateToOwnerOnceDespiteTransientFailure(t *testing.T) {
	sim, d := testSites(t, "dev")
	dev := sim.Site("dev")
	a := &duplicateToOwner{d: d}
	in := eventIn(t, sim, a, "Finance Scratchpad", nil)
	dev.SetFaults(qrssim.Faults{ErrorPaths: []string{"/qrs/app/" + in.Facts.App.ID + "/copy"}, ErrorCount: 1})
	count := len(dev.Apps())
	res, err := a.Run(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Run(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	if n := len(dev.Apps()); n != count+1 {
		t.Errorf("%d apps, want %d (one copy)", n, count+1)
	}
	cp, _ := dev.App(res.Values["app_id"].(string))
	if cp.Owner.UserID != "sales_manager" || cp.Name != "Finance Scratchpad" {
		t.Errorf("copy owned by %s named %q", cp.Owner.UserID, cp.Name)
	}
}

func TestDescribePromotedApps(t *testing.T) {
	sim, d := testSites(t, "dev", "test")
	p, pin := promoteIn(t, d, sim, "Sales Pipeline", []engine.Target{{Site: "test", Mode: "overwrite"}}, "Sales", "Everyone")
	pres, err := p.Run(context.Background(), pin)
	if err != nil {
		t.Fatal(err)
	}
	a := &describe{d: d}
	in := eventIn(t, sim, a, "Sales Pipeline", engine.Params{"apps": pres.Values["apps"], "version_id": "v-123"})
	res, err := a.Run(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	want := "App promoted from node: 'qlik-dev.company.com' by: '" + in.Facts.App.ModifiedBy + "' at: '" +
		simApp(t, sim.Site("dev"), "Sales Pipeline").ModifiedDate + "' where it was owned by: 'CORP\\sales_rep'\n\nS3 Version ID: v-123"
	for _, pa := range appsOf(t, pres) {
		app, _ := sim.Site("test").App(pa.AppID)
		if app.Description != want {
			t.Errorf("description of %s:\n%q\nwant\n%q", pa.AppID, app.Description, want)
		}
	}
	if res.Summary != "set the description of 2 apps" {
		t.Errorf("summary %q", res.Summary)
	}
	bad := stepIn(t, a, engine.Params{"apps": []any{map[string]any{"site": "qa", "app_id": "x"}}})
	if _, err := a.Run(context.Background(), bad); err == nil || !strings.Contains(err.Error(), "site 'qa' is not configured") {
		t.Errorf("unknown site: %v", err)
	}
}

func TestTagsAreAddedOnceAndRemoved(t *testing.T) {
	sim, d := testSites(t, "dev")
	dev := sim.Site("dev")
	add, remove := &addTag{d: d}, &removeTag{d: d}
	const tag = `Promoted "Q1" {{x}}`
	before := simApp(t, dev, "Nightly KPIs")
	for range 2 {
		if _, err := add.Run(context.Background(), eventIn(t, sim, add, "Nightly KPIs", engine.Params{"tag": tag})); err != nil {
			t.Fatal(err)
		}
	}
	app := simApp(t, dev, "Nightly KPIs")
	n := 0
	for _, tg := range app.Tags {
		if tg.Name == tag {
			n++
		}
	}
	if n != 1 || len(app.CustomProperties) != len(before.CustomProperties) || app.Description != before.Description {
		t.Errorf("tags %v (want %q once), properties or description changed", app.Tags, tag)
	}
	res, err := remove.Run(context.Background(), eventIn(t, sim, remove, "Nightly KPIs", engine.Params{"tag": strings.ToLower(tag)}))
	if err != nil || res.Status != engine.StatusDone {
		t.Fatalf("remove: %+v %v", res, err)
	}
	if app := simApp(t, dev, "Nightly KPIs"); app.HasTag(tag) {
		t.Error("tag still there")
	}
	res, _ = remove.Run(context.Background(), eventIn(t, sim, remove, "Nightly KPIs", engine.Params{"tag": tag}))
	if res.Status != engine.StatusSkipped {
		t.Errorf("removing an absent tag: %s", res.Status)
	}
}

func TestCustomProperties(t *testing.T) {
	sim, d := testSites(t, "dev")
	dev := sim.Site("dev")
	rm := &removeProperties{d: d}
	res, err := rm.Run(context.Background(), eventIn(t, sim, rm, "Nightly KPIs", engine.Params{"names": []string{"promotetoserver", "PromoteToStream", "NotThere"}}))
	if err != nil {
		t.Fatal(err)
	}
	app := simApp(t, dev, "Nightly KPIs")
	if len(app.CustomProperties) != 1 || app.CustomProperties[0].Definition.Name != "PromoteOnReload" {
		t.Errorf("properties left: %+v", app.CustomProperties)
	}
	if res.Summary != "removed 'PromoteToServer=test - Overwrite', 'PromoteToStream=Sales' from app "+short(app.ID)+" 'Nightly KPIs' on site dev" {
		t.Errorf("summary %q", res.Summary)
	}

	set := &setProperty{d: d}
	if _, err := set.Run(context.Background(), eventIn(t, sim, set, "Nightly KPIs", engine.Params{"name": "PromoteToStream", "values": []string{"Sales", "Everyone"}})); err != nil {
		t.Fatal(err)
	}
	app = simApp(t, dev, "Nightly KPIs")
	if got := app.PropertyValues("PromoteToStream"); !slices.Equal(got, []string{"Sales", "Everyone"}) {
		t.Errorf("PromoteToStream = %v", got)
	}
	for params, want := range map[string]engine.Params{
		"'Review' is not a value of custom property 'PromoteToStream' on site dev": {"name": "PromoteToStream", "values": []string{"Review"}},
		"custom property 'Nope' is not defined on site dev":                        {"name": "Nope", "values": []string{"x"}},
		"does not apply to apps": {"name": "EmailAlertOnPublishTo", "values": []string{"True"}},
	} {
		if _, err := set.Run(context.Background(), eventIn(t, sim, set, "Nightly KPIs", want)); err == nil || !strings.Contains(err.Error(), params) {
			t.Errorf("err = %v, want %q", err, params)
		}
	}
}

func TestS3VersionOnSimulator(t *testing.T) {
	cfg := startS3(t)
	sim, d := testSites(t, "dev")
	dev := sim.Site("dev")
	st, err := NewS3Store(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	d.S3 = st
	a := &s3Version{d: d}
	in := eventIn(t, sim, a, "Sales Pipeline", nil)
	res, err := a.Run(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	key := "PromotedToTest/Sales Pipeline-Template.qvf"
	if res.Values["key"] != key || res.Values["version_id"] == "" {
		t.Fatalf("values %v", res.Values)
	}
	out, err := st.client.GetObject(context.Background(), &s3.GetObjectInput{Bucket: &cfg.Bucket, Key: &key})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(out.Body)
	out.Body.Close()
	if *out.VersionId != res.Values["version_id"] || int64(len(body)) != dev.ContentBytesServed() {
		t.Errorf("object version %s size %d; exported %d", *out.VersionId, len(body), dev.ContentBytesServed())
	}
	full, _ := dev.Content(in.Facts.App.ID)
	if int64(len(body)) >= full.Size {
		t.Errorf("template of %d bytes is not smaller than the app with data (%d)", len(body), full.Size)
	}

	// A retry of the step returns the same version without exporting.
	served := dev.ContentBytesServed()
	again, err := a.Run(context.Background(), in)
	if err != nil || again.Values["version_id"] != res.Values["version_id"] || dev.ContentBytesServed() != served {
		t.Errorf("retry: %v %v (served %d → %d)", again.Values, err, served, dev.ContentBytesServed())
	}

	// Versioning off: a clear error before anything is exported.
	cfg.Bucket = "plain"
	d.S3, _ = NewS3Store(context.Background(), cfg)
	a = &s3Version{d: d}
	_, err = a.Run(context.Background(), eventIn(t, sim, a, "Sales Pipeline", nil))
	if err == nil || !strings.Contains(err.Error(), "bucket plain has versioning off") || dev.ContentBytesServed() != served {
		t.Errorf("unversioned bucket: %v", err)
	}
	a = &s3Version{d: Deps{Sites: d.Sites}}
	if _, err := a.Run(context.Background(), eventIn(t, sim, a, "Sales Pipeline", nil)); err == nil || !strings.Contains(err.Error(), "S3 versioning is not configured") {
		t.Errorf("no S3: %v", err)
	}
}

// A site's hub host names it in links and, for events without a notification
// (catch-up), in the description's node.
func TestHubHostInLinksAndDescriptionNode(t *testing.T) {
	sim, d := testSites(t, "dev", "test")
	for alias, hub := range map[string]string{"dev": "qlik-dev.company.com", "test": "qlik-test.company.com"} {
		cfg := sim.Site(alias).ClientConfig()
		cfg.Log, cfg.HubHost = slog.New(slog.DiscardHandler), hub
		c, err := qrs.NewClient(cfg)
		if err != nil {
			t.Fatal(err)
		}
		d.Sites[alias] = c
	}
	p, pin := promoteIn(t, d, sim, "Sales Pipeline", []engine.Target{{Site: "test", Mode: "overwrite"}}, "Sales")
	pres, err := p.Run(context.Background(), pin)
	if err != nil {
		t.Fatal(err)
	}
	apps := appsOf(t, pres)
	if len(apps) != 1 || apps[0].URL != "https://qlik-test.company.com/sense/app/"+apps[0].AppID || apps[0].Host != "qlik-test.company.com" {
		t.Fatalf("promoted apps: %+v", apps)
	}
	a := &describe{d: d}
	in := eventIn(t, sim, a, "Sales Pipeline", engine.Params{"apps": pres.Values["apps"]})
	in.Facts.Event.OriginatorHost = "" // a reconciled event has no notification
	if _, err := a.Run(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	got, _ := sim.Site("test").App(apps[0].AppID)
	if !strings.HasPrefix(got.Description, "App promoted from node: 'qlik-dev.company.com' by: ") {
		t.Errorf("description %q", got.Description)
	}
}

// A value set after the execution read the app (a new approval made while
// it ran) is not removed with the ones the policy evaluated.
func TestRemovePropertiesKeepsValuesSetSinceTheEvaluation(t *testing.T) {
	sim, d := testSites(t, "dev")
	dev := sim.Site("dev")
	rm := &removeProperties{d: d}
	in := eventIn(t, sim, rm, "Nightly KPIs", engine.Params{"names": []string{"PromoteToServer", "PromoteToStream"}})
	// Since the evaluation, someone added a second target stream.
	set := &setProperty{d: d}
	if _, err := set.Run(context.Background(), eventIn(t, sim, set, "Nightly KPIs", engine.Params{"name": "PromoteToStream", "values": []string{"Sales", "Everyone"}})); err != nil {
		t.Fatal(err)
	}
	res, err := rm.Run(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	app := simApp(t, dev, "Nightly KPIs")
	if got := app.PropertyValues("PromoteToStream"); !slices.Equal(got, []string{"Everyone"}) {
		t.Errorf("PromoteToStream = %v, want the value set since kept", got)
	}
	if got := app.PropertyValues("PromoteToServer"); len(got) != 0 {
		t.Errorf("PromoteToServer = %v, want removed", got)
	}
	if len(res.Details) != 1 || !strings.Contains(res.Details[0], "kept 'PromoteToStream=Everyone'") {
		t.Errorf("details %q", res.Details)
	}
}
