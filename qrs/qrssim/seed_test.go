package qrssim

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseSeedErrors(t *testing.T) {
	for _, tc := range []struct {
		yaml string
		want string
	}{
		{"users:\n  - {user_id: a, directory: D, mail: x}\n",
			"seed: yaml: unmarshal errors:\n  line 2: field mail not found in type qrssim.UserSeed"},
		{"apps: 3\n", "seed: yaml: unmarshal errors:\n  line 1: cannot unmarshal !!int `3` into []qrssim.AppSeed"},
		{"users:\n  - {user_id: a}\n", "seed: users[0]: user_id and directory are required"},
		{"apps:\n  - {name: A, owner: sales_rep}\n",
			`seed: apps[0] (A): owner "sales_rep" must be DIRECTORY\user, e.g. CORP\sales_rep`},
		{"apps:\n  - {name: A, owner: 'C\\u', id: 12}\n",
			`seed: apps[0]: id "12" is not a GUID (like 3b2c1f9e-7a44-4d0b-8f3e-2c9a1d5e7b21); remove it to get a random one`},
		{"apps:\n  - {name: A, owner: 'C\\u', last_reload_time: yesterday}\n",
			`seed: apps[0] (A): last_reload_time "yesterday" is not an RFC 3339 time like 2026-11-27T06:00:12.774Z`},
		{"definitions:\n  - {name: P, object_types: [Apps]}\n", `seed: definitions[0] (P): object type "Apps" is not one of App, Stream, User`},
	} {
		_, err := ParseSeed([]byte(tc.yaml))
		if err == nil || err.Error() != tc.want {
			t.Errorf("%q:\ngot  %v\nwant %s", tc.yaml, err, tc.want)
		}
	}
	if s, err := ParseSeed(nil); err != nil || len(s.Apps) != 0 {
		t.Errorf("empty seed: %v %v", s, err)
	}
}

func TestLoadChecksReferences(t *testing.T) {
	site := startSim(t, SiteOptions{Alias: "dev", Seed: testSeed(t)}).Site("dev")
	before := len(site.Apps())
	seed, err := ParseSeed([]byte(`
users: [{user_id: rep, directory: corp}]
streams: [{name: New, properties: {PromoteToServer: [x]}}]
apps:
  - {name: A, owner: CORP\nobody, stream: Nowhere, tags: [Bronze], properties: {Missing: [x], Env: [y]}}
  - {name: B, owner: CORP\rep}
`))
	if err != nil {
		t.Fatal(err)
	}
	err = site.Load(seed)
	want := strings.Join([]string{
		`seed: users[0]: user corp\rep already exists on site "dev"`,
		`seed: streams[0] (New): custom property "PromoteToServer" does not apply to Stream; add Stream to its object_types`,
		`seed: apps[0] (A): owner CORP\nobody is not a user; add it under users:`,
		`seed: apps[0] (A): stream "Nowhere" does not exist; add it under streams: or leave stream empty for an unpublished app`,
		`seed: apps[0] (A): tag "Bronze" does not exist; add it under tags:`,
		`seed: apps[0] (A): custom property "Missing" is not defined; add it under definitions: with object_types: [App]`,
	}, "\n")
	if err == nil || err.Error() != want {
		t.Fatalf("got\n%v\nwant\n%s", err, want)
	}
	if len(site.Apps()) != before {
		t.Fatal("a failed Load changed the site")
	}
	app, err := site.AddApp(AppSeed{Name: "Added", Owner: `corp\REP`, Stream: "sales", Size: 10})
	if err != nil {
		t.Fatal(err)
	}
	if !app.Published || app.Stream.Name != "Sales" || app.Owner.UserID != "rep" || app.FileSize != headerSize {
		t.Fatalf("AddApp: %+v", app)
	}
}

func TestDefaultSeeds(t *testing.T) {
	sim := startSim(t, SiteOptions{Alias: "dev", Seed: DefaultSeed("dev")},
		SiteOptions{Alias: "test", Seed: DefaultSeed("test")}, SiteOptions{Alias: "prod", Seed: DefaultSeed("prod")})
	dev, test, prod := sim.Site("dev"), sim.Site("test"), sim.Site("prod")
	for _, acct := range []string{`CORP\sales_rep`, `CORP\sales_manager`, `INTERNAL\sa_api`} {
		u, ok := dev.UserByAccount(acct)
		if !ok || (acct != `INTERNAL\sa_api` && u.Email() == "") {
			t.Errorf("dev user %s: %v %q", acct, ok, u.Email())
		}
	}
	review, ok := dev.StreamByName("Review")
	if !ok || len(review.PropertyValues("EmailAlertOnPublishTo")) != 1 {
		t.Fatalf("dev Review stream: %+v", review)
	}
	c := newRaw(t, dev)
	var defs []map[string]any
	c.ok(200, "GET", "/qrs/custompropertydefinition/full", q("filter", "name eq 'PromoteToServer'"), nil, &defs)
	if len(defs) != 1 || len(defs[0]["choiceValues"].([]any)) != 4 {
		t.Fatalf("PromoteToServer: %v", defs)
	}
	// Targets have same-named published apps to overwrite, with other content.
	var pipeline string
	for _, a := range dev.Apps() {
		if a.Name == "Sales Pipeline" {
			pipeline = a.ID
		}
	}
	for _, site := range []*Site{test, prod} {
		found := false
		for _, a := range site.Apps() {
			if a.Name == "Sales Pipeline" && a.Published && a.Stream.Name == "Sales" {
				found = true
				if must(site.Content(a.ID)) == must(dev.Content(pipeline)) {
					t.Errorf("%s: Sales Pipeline has dev's content", site.Alias())
				}
			}
		}
		if !found {
			t.Errorf("%s: no published Sales Pipeline", site.Alias())
		}
	}
	// Stable IDs per alias, different across aliases.
	if DefaultSeed("test").Apps[0].ID != DefaultSeed("test").Apps[0].ID || DefaultSeed("test").Apps[0].ID == DefaultSeed("prod").Apps[0].ID {
		t.Error("default seed IDs are not stable per alias")
	}
}

func TestLoadSeedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "seed.yaml")
	if err := os.WriteFile(path, []byte("tags: [A]\nstreams:\n  - {nme: x}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadSeedFile(path)
	want := path + ": seed: yaml: unmarshal errors:\n  line 3: field nme not found in type qrssim.StreamSeed"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
	if _, err := LoadSeedFile(filepath.Join(t.TempDir(), "none.yaml")); err == nil || !strings.Contains(err.Error(), "none.yaml") {
		t.Fatalf("missing file: %v", err)
	}
}

// A seeded app's modifiedDate is never older than its publish or reload, as
// on a real server (catch-up relies on it).
func TestSeededAppsWereModifiedByTheirLastPublishOrReload(t *testing.T) {
	sim, err := Start(Options{Sites: []SiteOptions{{Alias: "dev", Seed: DefaultSeed("dev")}}})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	published := 0
	for _, a := range sim.Site("dev").Apps() {
		m := parseTime(a.ModifiedDate)
		if a.Published {
			published++
		}
		if p := parseTime(a.PublishTime); a.Published && p.After(m) {
			t.Errorf("%s: published at %s, after its modifiedDate %s", a.Name, a.PublishTime, a.ModifiedDate)
		}
		if r := parseTime(a.LastReloadTime); r.After(m) {
			t.Errorf("%s: reloaded at %s, after its modifiedDate %s", a.Name, a.LastReloadTime, a.ModifiedDate)
		}
	}
	if published == 0 {
		t.Fatal("the default dev seed has no published app")
	}
}
