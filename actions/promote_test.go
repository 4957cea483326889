package actions

import (
	"context"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/qs-promoter/qs-promoter/engine"
	"github.com/qs-promoter/qs-promoter/qrs/qrssim"
)

func promoteIn(t *testing.T, d Deps, sim *qrssim.Sim, appName string, targets []engine.Target, streams ...string) (*promote, *engine.StepInput) {
	t.Helper()
	a := &promote{d: d}
	dev := sim.Site("dev")
	in := stepIn(t, a, engine.Params{"targets": targets, "streams": streams})
	in.Facts = simFacts(t, dev, simApp(t, dev, appName))
	return a, in
}

var twoSites = []engine.Target{{Site: "test", Mode: "Overwrite"}, {Site: "prod", Mode: "duplicate"}}

func appsOf(t *testing.T, res engine.Result) []PromotedApp {
	t.Helper()
	apps, err := decodeValue[PromotedApp](res.Values["apps"], "apps")
	if err != nil {
		t.Fatal(err)
	}
	return apps
}

func TestPromoteOverwriteAndDuplicate(t *testing.T) {
	sim, d := testSites(t, "dev", "test", "prod")
	dev, test, prod := sim.Site("dev"), sim.Site("test"), sim.Site("prod")
	oldTest := simApp(t, test, "Sales Pipeline")
	oldProd := simApp(t, prod, "Sales Pipeline")
	oldProdContent, _ := prod.Content(oldProd.ID)
	a, in := promoteIn(t, d, sim, "Sales Pipeline", twoSites, "Sales", "Everyone", "Missing")
	var progress []string
	in.Progress = func(f string, args ...any) { progress = append(progress, f) }

	res, err := a.Run(context.Background(), in)
	if err != nil {
		t.Fatalf("Run: %v\n%+v", err, res)
	}
	if res.Status != engine.StatusDone {
		t.Errorf("status %s", res.Status)
	}
	var got []string
	for _, p := range appsOf(t, res) {
		got = append(got, p.Site+"/"+p.Stream+"/"+p.Action)
		if p.URL != "https://localhost/sense/app/"+p.AppID || p.Name != "Sales Pipeline" || p.Host != "localhost" {
			t.Errorf("entry %+v", p)
		}
	}
	want := []string{"test/Sales/replaced", "test/Everyone/published", "prod/Sales/published", "prod/Everyone/published"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("apps %v, want %v", got, want)
	}
	if nf := res.Values["streams_not_found"].(map[string]any); len(nf) != 2 || len(nf["test"].([]any)) != 1 {
		t.Errorf("streams_not_found %v", nf)
	}

	// Every target app holds the source's content; the old prod app is untouched.
	src, _ := dev.Content(simApp(t, dev, "Sales Pipeline").ID)
	for _, p := range appsOf(t, res) {
		c, ok := sim.Site(p.Site).Content(p.AppID)
		if !ok || c != src {
			t.Errorf("%s/%s: content %+v, want %+v", p.Site, p.Stream, c, src)
		}
		app, _ := sim.Site(p.Site).App(p.AppID)
		if !app.Published || app.Stream.Name != p.Stream || app.Name != "Sales Pipeline" {
			t.Errorf("%s/%s: app %s published=%v in %v", p.Site, p.Stream, app.Name, app.Published, app.Stream)
		}
	}
	if appsOf(t, res)[0].AppID != oldTest.ID {
		t.Errorf("overwrite replaced %s, want the existing %s", appsOf(t, res)[0].AppID, oldTest.ID)
	}
	if c, _ := prod.Content(oldProd.ID); c != oldProdContent {
		t.Error("duplicate mode changed the existing same-named app")
	}

	// Exported once, uploaded once per site, copied on prod for the second stream.
	if n := dev.ContentBytesServed(); n != src.Size {
		t.Errorf("dev served %d bytes, want one export of %d", n, src.Size)
	}
	for _, s := range []*qrssim.Site{test, prod} {
		if n := s.ContentBytesReceived(); n != src.Size {
			t.Errorf("%s received %d bytes, want one upload of %d", s.Alias(), n, src.Size)
		}
		if h := helperApps(s); len(h) != 0 {
			t.Errorf("%s: helper apps left: %v", s.Alias(), h)
		}
	}
	if n := countWrites(prod, "POST", "/copy"); n != 1 {
		t.Errorf("prod: %d copies, want 1", n)
	}
	if len(progress) == 0 {
		t.Error("no progress reported")
	}
	if entries, _ := os.ReadDir(d.TempDir); len(entries) != 0 {
		t.Errorf("temporary files left: %v", entries)
	}
}

func TestPromoteRetryMakesNoSecondCopy(t *testing.T) {
	sim, d := testSites(t, "dev", "test", "prod")
	a, in := promoteIn(t, d, sim, "Sales Pipeline", twoSites, "Sales", "Everyone")
	first, err := a.Run(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	counts := func() map[string]int {
		m := map[string]int{}
		for _, s := range sim.Sites() {
			m[s.Alias()] = len(s.Apps())
		}
		return m
	}
	before := counts()
	received := sim.Site("prod").ContentBytesReceived()
	again, err := a.Run(context.Background(), in) // same execution, same journal
	if err != nil {
		t.Fatal(err)
	}
	if after := counts(); !equalMaps(before, after) {
		t.Errorf("app counts changed on retry: %v → %v", before, after)
	}
	if sim.Site("prod").ContentBytesReceived() != received {
		t.Error("the retry uploaded again")
	}
	if a1, a2 := appsOf(t, first), appsOf(t, again); !equalApps(a1, a2) {
		t.Errorf("retry reports %v, first run %v", a2, a1)
	}

	// A retry without the journal's last entries (a crash right after the
	// publish): it must find what it made instead of making another.
	j := in.Journal.(*memJournal)
	for k := range j.m {
		if strings.Contains(k, "/stream/") {
			delete(j.m, k)
		}
	}
	if _, err := a.Run(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	if after := counts(); !equalMaps(before, after) {
		t.Errorf("app counts changed after a crash-retry: %v → %v", before, after)
	}
}

func TestPromoteFindsOrphanUpload(t *testing.T) {
	// A crash between the upload and the journal noting it: the app exists
	// under the temporary name and the journal says "creating".
	sim, d := testSites(t, "dev", "test")
	a, in := promoteIn(t, d, sim, "Sales Pipeline", []engine.Target{{Site: "test", Mode: "overwrite"}}, "Sales")
	dev, test := sim.Site("dev"), sim.Site("test")
	dl, err := d.Sites["dev"].ExportApp(context.Background(), in.Facts.App.ID, false)
	if err != nil {
		t.Fatal(err)
	}
	orphan, err := d.Sites["test"].UploadApp(context.Background(), tempName(in, "test/upload"), true, dl, dl.Size)
	dl.Close()
	if err != nil {
		t.Fatal(err)
	}
	_ = in.Journal.Put("test/helper", creating)
	received, served := test.ContentBytesReceived(), dev.ContentBytesServed()
	res, err := a.Run(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if test.ContentBytesReceived() != received || dev.ContentBytesServed() != served {
		t.Errorf("the run uploaded (%d → %d bytes received) instead of using the orphan", received, test.ContentBytesReceived())
	}
	if _, ok := test.App(orphan.ID); ok {
		t.Error("the orphan helper was not deleted after the replace")
	}
	if got := appsOf(t, res); len(got) != 1 || got[0].Action != "replaced" {
		t.Errorf("apps %+v", got)
	}
}

func TestPromoteOneSiteFailing(t *testing.T) {
	sim, d := testSites(t, "dev", "test", "prod")
	prod := sim.Site("prod")
	prod.SetFaults(qrssim.Faults{ErrorPaths: []string{"/qrs/app/upload"}, ErrorStatus: 503})
	a, in := promoteIn(t, d, sim, "Sales Pipeline", twoSites, "Sales")
	srcBefore := simApp(t, sim.Site("dev"), "Sales Pipeline")

	res, err := a.Run(context.Background(), in)
	if err == nil || !strings.HasPrefix(err.Error(), "promote failed on site prod: ") {
		t.Fatalf("err = %v, want the prod failure", err)
	}
	// A 503 is worth another attempt of the execution, later.
	if !engine.IsTransient(err) {
		t.Errorf("the failure lost its transient cause: %v", err)
	}
	if res.Status != engine.StatusFailed {
		t.Errorf("status %s", res.Status)
	}
	if got := appsOf(t, res); len(got) != 1 || got[0].Site != "test" {
		t.Errorf("apps %+v, want test promoted", got)
	}
	fails, _ := decodeValue[SiteFailure](res.Values["failures"], "failures")
	if len(fails) != 1 || fails[0].Site != "prod" || !strings.Contains(fails[0].Error, "503") {
		t.Errorf("failures %+v", fails)
	}
	if n := countWrites(prod, "POST", "/upload"); n != 0 {
		t.Errorf("%d uploads succeeded on prod", n)
	}
	// Transient: retried within the budget before giving up.
	attempts := 0
	for _, r := range prod.Requests() {
		if r.Method == "POST" && strings.Contains(r.Path, "/upload") {
			attempts++
		}
	}
	if attempts != fastRetry.Attempts {
		t.Errorf("%d upload attempts, want %d", attempts, fastRetry.Attempts)
	}
	src, ok := sim.Site("dev").App(srcBefore.ID)
	if !ok || src.Published != srcBefore.Published || src.ModifiedDate != srcBefore.ModifiedDate {
		t.Error("the source app changed")
	}
	if h := helperApps(prod); len(h) != 0 {
		t.Errorf("helpers left on prod: %v", h)
	}
}

func TestPromoteUnknownSiteAndNoStreams(t *testing.T) {
	sim, d := testSites(t, "dev", "test")
	a, in := promoteIn(t, d, sim, "Sales Pipeline", []engine.Target{{Site: "qa", Mode: "overwrite"}, {Site: "test", Mode: "duplicate"}}, "Nope")
	res, err := a.Run(context.Background(), in)
	if err == nil || !strings.Contains(err.Error(), "site 'qa' is not configured") {
		t.Fatalf("err = %v", err)
	}
	if sim.Site("dev").ContentBytesServed() != 0 {
		t.Error("exported although no target stream exists")
	}
	if len(appsOf(t, res)) != 0 {
		t.Errorf("apps %v", res.Values["apps"])
	}
}

func TestPromotePlanIsReadOnly(t *testing.T) {
	sim, d := testSites(t, "dev", "test", "prod")
	a, in := promoteIn(t, readOnly(d), sim, "Sales Pipeline", twoSites, "Sales", "Everyone", "Missing")
	res, err := a.Plan(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	old := simApp(t, sim.Site("test"), "Sales Pipeline")
	wantLine := "would replace app " + short(old.ID) + " 'Sales Pipeline' in stream 'Sales' on site test"
	if res.Status != engine.StatusPlanned || !containsLine(res.Details, wantLine) {
		t.Errorf("plan %s\n%s\nwant line %s", res.Summary, strings.Join(res.Details, "\n"), wantLine)
	}
	if res.Summary != "would promote 'Sales Pipeline' to 2 sites: 1 replaced, 3 published; streams not found on prod, test" {
		t.Errorf("summary %q", res.Summary)
	}
	for _, s := range sim.Sites() {
		if w := s.Writes(); len(w) != 0 {
			t.Errorf("%s: writes during a plan: %+v", s.Alias(), w)
		}
	}
}

func containsLine(lines []string, want string) bool {
	for _, l := range lines {
		if l == want {
			return true
		}
	}
	return false
}

func equalMaps(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func equalApps(a, b []PromotedApp) bool {
	key := func(l []PromotedApp) []string {
		var out []string
		for _, p := range l {
			out = append(out, p.Site+p.StreamID+p.AppID+p.Action)
		}
		sort.Strings(out)
		return out
	}
	return strings.Join(key(a), ",") == strings.Join(key(b), ",")
}

func TestPromoteNameThatTriesToBreakFilters(t *testing.T) {
	sim, d := testSites(t, "dev", "test")
	name := `O'Brien "Sales" {{ x }} & #1 \ <b>`
	for _, s := range []string{"dev", "test"} {
		if _, err := sim.Site(s).AddApp(qrssim.AppSeed{Name: name, Owner: `CORP\sales_rep`, Stream: "Sales", Size: 4096}); err != nil {
			t.Fatal(err)
		}
	}
	old := simApp(t, sim.Site("test"), name)
	a, in := promoteIn(t, d, sim, name, []engine.Target{{Site: "test", Mode: "overwrite"}}, "Sales")
	res, err := a.Run(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if got := appsOf(t, res); len(got) != 1 || got[0].AppID != old.ID || got[0].Action != "replaced" {
		t.Errorf("apps %+v, want the same-named app %s replaced", got, old.ID)
	}
}

func TestPromoteFailedPublishLeavesNoCopy(t *testing.T) {
	// On prod (duplicate, two streams) the helper is published to the first
	// stream, then the server-side copy for the second fails to publish: the
	// step fails and the unpublished copy must not stay behind.
	sim, d := testSites(t, "dev", "prod")
	prod := sim.Site("prod")
	prod.SetFaults(qrssim.Faults{ErrorPaths: []string{"/qrs/app/*/publish"}, ErrorSkip: 1, ErrorStatus: 400})
	a, in := promoteIn(t, d, sim, "Sales Pipeline", []engine.Target{{Site: "prod", Mode: "duplicate"}}, "Sales", "Everyone")
	before := len(prod.Apps())
	if _, err := a.Run(context.Background(), in); err == nil || !strings.Contains(err.Error(), "publishing to stream") {
		t.Fatalf("err = %v, want the publish failure", err)
	}
	if n := countWrites(prod, "POST", "/copy"); n != 1 {
		t.Fatalf("%d copies, want 1 (the failure must come from the copy's publish)", n)
	}
	if h := helperApps(prod); len(h) != 0 {
		t.Errorf("apps left under a temporary name: %v", h)
	}
	if n := len(prod.Apps()); n != before+1 {
		t.Errorf("%d apps on prod, want %d (only the one published)", n, before+1)
	}

	// The retry finishes the job: one app in each stream, nothing more.
	prod.SetFaults(qrssim.Faults{})
	res, err := a.Run(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if got := appsOf(t, res); len(got) != 2 {
		t.Errorf("apps %+v", got)
	}
	if n := len(prod.Apps()); n != before+2 {
		t.Errorf("%d apps on prod after the retry, want %d", n, before+2)
	}
	if h := helperApps(prod); len(h) != 0 {
		t.Errorf("apps left under a temporary name after the retry: %v", h)
	}
}

// A site listed with both modes is promoted once, with the first, and the
// result says the other was ignored.
func TestPromoteSiteListedTwiceSaysWhichModeIsIgnored(t *testing.T) {
	sim, d := testSites(t, "dev", "test")
	a, in := promoteIn(t, d, sim, "Sales Pipeline", []engine.Target{{Site: "test", Mode: "Overwrite"}, {Site: "TEST", Mode: "duplicate"}, {Site: "test", Mode: "overwrite"}}, "Everyone")
	res, err := a.Run(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(appsOf(t, res)); n != 1 {
		t.Errorf("promoted %d apps, want 1", n)
	}
	want := "site TEST is listed twice; duplicate is ignored (the first value, overwrite, is used)"
	if len(res.Details) == 0 || res.Details[0] != want {
		t.Errorf("details %q, want first %q", res.Details, want)
	}
}
