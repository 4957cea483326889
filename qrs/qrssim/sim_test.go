package qrssim

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

const testSeedYAML = `
definitions:
  - name: PromoteToServer
    object_types: [App]
    choice_values: ["test - Overwrite"]
  - name: Env
    object_types: [App, Stream]
users:
  - {user_id: rep, directory: CORP, name: Rep, email: Rep@Example.com}
  - {user_id: boss, directory: CORP, name: Boss}
tags: [Gold, Silver]
streams:
  - {name: Sales, properties: {Env: [prod]}}
  - {name: Everyone}
apps:
  - {id: 11111111-1111-1111-1111-111111111111, name: Alpha, owner: CORP\rep, stream: Sales, tags: [Gold], properties: {PromoteToServer: ["test - Overwrite"], Env: [a, b]}, size: 1000}
  - {name: "x' or name sw '", owner: CORP\rep, size: 1000}
  - {name: "O'Brien \\ Sales", owner: CORP\boss, stream: Everyone, tags: [Silver, Gold]}
  - {name: Beta, owner: CORP\boss, last_reload_time: "2020-01-01T00:00:00.000Z"}
`

func testSeed(t testing.TB) *Seed {
	t.Helper()
	s, err := ParseSeed([]byte(testSeedYAML))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestHandshakeNeedsClientCertificate(t *testing.T) {
	sim := startSim(t, SiteOptions{Alias: "dev"})
	site := sim.Site("dev")
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConfig(t, site.CertDir(), false)}}
	defer hc.CloseIdleConnections()
	resp, err := hc.Get(site.URL() + "/qrs/about?xrfkey=" + testKey)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("a request without a client certificate got %s", resp.Status)
	}

	// Another site's certificates are another CA's: rejected both ways.
	other := startSim(t, SiteOptions{Alias: "dev"}).Site("dev")
	hc2 := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConfig(t, other.CertDir(), true)}}
	defer hc2.CloseIdleConnections()
	if resp, err := hc2.Get(site.URL() + "/qrs/about?xrfkey=" + testKey); err == nil {
		resp.Body.Close()
		t.Fatal("a certificate from another simulator was accepted")
	}
}

func TestXrfKey(t *testing.T) {
	site := startSim(t, SiteOptions{Alias: "dev"}).Site("dev")
	c := newRaw(t, site)
	for _, tc := range []struct {
		name   string
		query  string
		header string
		want   int
	}{
		{"both", "xrfkey=" + testKey, testKey, 200},
		{"name case", "XrfKey=" + testKey, testKey, 200},
		{"no query", "", testKey, 403},
		{"no header", "xrfkey=" + testKey, "", 403},
		{"mismatch", "xrfkey=" + testKey, "0123456789abcdeX", 403},
		{"too short", "xrfkey=abc", "abc", 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hdr := http.Header{}
			if tc.header != "" {
				hdr.Set("X-Qlik-Xrfkey", tc.header)
			}
			status, body, h := c.send("GET", site.URL()+"/qrs/about?"+tc.query, hdr, nil)
			if status != tc.want {
				t.Fatalf("status %d, want %d (%s)", status, tc.want, body)
			}
			if status == 403 {
				if string(body) != "XSRF prevention check failed. Possible XSRF discovered." {
					t.Errorf("body %q", body)
				}
				if !strings.HasPrefix(h.Get("Content-Type"), "text/plain") {
					t.Errorf("Content-Type %q", h.Get("Content-Type"))
				}
			}
		})
	}
}

func TestPathsAndParametersAreCaseInsensitive(t *testing.T) {
	site := startSim(t, SiteOptions{Alias: "dev", Seed: testSeed(t)}).Site("dev")
	c := newRaw(t, site)
	var apps []appJSON
	c.ok(200, "GET", "/QRS/App/FULL", q("Filter", "Name eq 'alpha'"), nil, &apps)
	if len(apps) != 1 || apps[0].str("name") != "Alpha" {
		t.Fatalf("got %v", apps)
	}
	c.ok(200, "GET", "/qrs/app/full", q("orderBy", "name desc"), nil, &apps)
	if len(apps) != 4 || apps[0].str("name") != "x' or name sw '" || apps[3].str("name") != "Alpha" {
		t.Fatalf("orderby name desc: %v", apps)
	}
	var defs []map[string]any
	c.ok(200, "GET", "/qrs/CustomPropertyDefinition/full", nil, nil, &defs)
	if len(defs) != 2 {
		t.Fatalf("got %d definitions", len(defs))
	}
	var count map[string]int
	c.ok(200, "GET", "/qrs/app/count", q("filter", "published eq true"), nil, &count)
	if count["value"] != 2 {
		t.Fatalf("count %v", count)
	}
	// Raw & inside a value cuts the query: QRS's answer.
	status, body, _ := c.send("GET", site.URL()+"/qrs/app/full?filter=name%20eq%20'a&b'&xrfkey="+testKey,
		http.Header{"X-Qlik-Xrfkey": {testKey}}, nil)
	if status != 400 || string(body) != "Missing parameter value(s)" {
		t.Fatalf("raw &: %d %s", status, body)
	}
}

func TestFilters(t *testing.T) {
	site := startSim(t, SiteOptions{Alias: "dev", Seed: testSeed(t)}).Site("dev")
	c := newRaw(t, site)
	alpha := "11111111-1111-1111-1111-111111111111"
	for _, tc := range []struct {
		filter string
		want   []string // app names, sorted; nil with bad: 400
		bad    string
	}{
		{filter: "name eq 'Alpha'", want: []string{"Alpha"}},
		{filter: "name eq 'ALPHA'", want: []string{"Alpha"}},
		{filter: "name ne 'Alpha'", want: []string{"Beta", "O'Brien \\ Sales", "x' or name sw '"}},
		{filter: "name sw 'b'", want: []string{"Beta"}},
		{filter: "name ew 'SALES'", want: []string{"O'Brien \\ Sales"}},
		{filter: "name so 'lph'", want: []string{"Alpha"}},
		{filter: `name eq 'x\' or name sw \''`, want: []string{"x' or name sw '"}},
		{filter: `name eq 'O\'Brien \\ Sales'`, want: []string{"O'Brien \\ Sales"}},
		{filter: "id eq " + alpha, want: []string{"Alpha"}},
		{filter: "id eq " + strings.ToUpper(alpha), want: []string{"Alpha"}},
		{filter: "published eq true", want: []string{"Alpha", "O'Brien \\ Sales"}},
		{filter: "published eq false and name sw 'b'", want: []string{"Beta"}},
		{filter: "stream.name eq 'sales'", want: []string{"Alpha"}},
		{filter: "stream eq null", want: []string{"Beta", "x' or name sw '"}},
		{filter: "owner.userId eq 'boss'", want: []string{"Beta", "O'Brien \\ Sales"}},
		{filter: "owner.userDirectory eq 'CORP' and owner.name eq 'Rep'", want: []string{"Alpha", "x' or name sw '"}},
		{filter: "tags.name eq 'gold'", want: []string{"Alpha", "O'Brien \\ Sales"}},
		{filter: "tags.name eq 'Silver' or (name eq 'Beta')", want: []string{"Beta", "O'Brien \\ Sales"}},
		{filter: "(tags.name eq 'Gold' and tags.name eq 'Silver') or name eq 'Beta'", want: []string{"Beta", "O'Brien \\ Sales"}},
		{filter: "customProperties.definition.name eq 'PromoteToServer'", want: []string{"Alpha"}},
		{filter: "customProperties.value eq 'b'", want: []string{"Alpha"}},
		{filter: "lastReloadTime lt '2021-01-01T00:00:00Z'", want: []string{"Beta"}},
		{filter: "fileSize le 1000", want: []string{"Alpha", "x' or name sw '"}},
		{filter: "modifiedDate gt '2000-01-01T00:00:00.000Z' and name eq 'Beta'", want: []string{"Beta"}},
		{filter: "name eq 'nothing'", want: []string{}},
		{filter: "name eq 'it''s'", bad: "Cannot parse the expression: name eq 'it''s'"},
		{filter: `name eq "Alpha"`, bad: `Cannot parse the expression: name eq "Alpha"`},
		{filter: "name eq 'Alpha", bad: "Cannot parse the expression: name eq 'Alpha"},
		{filter: "name xx 'Alpha'", bad: "Cannot parse the expression: name xx 'Alpha'"},
		{filter: "name eq 'a' and", bad: "Cannot parse the expression: name eq 'a' and"},
		{filter: "(name eq 'a'", bad: "Cannot parse the expression: (name eq 'a'"},
		{filter: "nosuchfield eq 'a'", bad: "Cannot parse the expression: nosuchfield eq 'a'"},
		{filter: "()", bad: "Invalid expression"},
	} {
		t.Run(tc.filter, func(t *testing.T) {
			status, body, _ := c.req("GET", "/qrs/app/full", q("filter", tc.filter), nil)
			if tc.bad != "" {
				if status != 400 || string(body) != tc.bad {
					t.Fatalf("got %d %q, want 400 %q", status, body, tc.bad)
				}
				return
			}
			if status != 200 {
				t.Fatalf("status %d: %s", status, body)
			}
			var apps []appJSON
			mustJSON(t, body, &apps)
			got := []string{}
			for _, a := range apps {
				got = append(got, a.str("name"))
			}
			sort.Strings(got)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
	// The other entity types filter too.
	var users []map[string]any
	c.ok(200, "GET", "/qrs/user/full", q("filter", "attributes.attributeValue eq 'rep@example.com'"), nil, &users)
	if len(users) != 1 || users[0]["userId"] != "rep" {
		t.Fatalf("users %v", users)
	}
	var streams []map[string]any
	c.ok(200, "GET", "/qrs/stream/full", q("filter", "customProperties.value eq 'prod'"), nil, &streams)
	if len(streams) != 1 || streams[0]["name"] != "Sales" {
		t.Fatalf("streams %v", streams)
	}
}

func TestAppShapes(t *testing.T) {
	site := startSim(t, SiteOptions{Alias: "dev", Seed: testSeed(t)}).Site("dev")
	c := newRaw(t, site)
	var beta []appJSON
	c.ok(200, "GET", "/qrs/app/full", q("filter", "name eq 'Beta'"), nil, &beta)
	b := beta[0]
	if b["stream"] != nil || b["published"] != false || b.str("publishTime") != "1753-01-01T00:00:00.000Z" {
		t.Errorf("unpublished app: stream %v published %v publishTime %v", b["stream"], b["published"], b["publishTime"])
	}
	if _, ok := b["privileges"]; !ok || b.str("schemaPath") != "App" {
		t.Errorf("missing privileges or schemaPath: %v", b)
	}
	var alpha appJSON
	c.ok(200, "GET", "/qrs/app/11111111-1111-1111-1111-111111111111", nil, nil, &alpha)
	cps := alpha["customProperties"].([]any)
	if len(cps) != 3 { // Env has two values: two entries with the same definition
		t.Fatalf("customProperties %v", cps)
	}
	var env []string
	for _, cp := range cps {
		m := cp.(map[string]any)
		if m["definition"].(map[string]any)["name"] == "Env" {
			env = append(env, m["value"].(string))
		}
	}
	if !slices.Equal(env, []string{"a", "b"}) {
		t.Errorf("Env values %v", env)
	}
	// Condensed list has the condensed shape.
	var condensed []map[string]any
	c.ok(200, "GET", "/qrs/app", nil, nil, &condensed)
	if _, full := condensed[0]["customProperties"]; full || condensed[0]["name"] == nil {
		t.Errorf("condensed app %v", condensed[0])
	}
	status, body, _ := c.req("GET", "/qrs/app/22222222-2222-2222-2222-222222222222", nil, nil)
	if status != 404 {
		t.Errorf("unknown app: %d %s", status, body)
	}
	// The users' e-mail attribute.
	u, ok := site.UserByAccount(`corp\REP`)
	if !ok || u.Email() != "Rep@Example.com" {
		t.Errorf("UserByAccount: %v %q", ok, u.Email())
	}
	if st, ok := site.StreamByName("sales"); !ok || len(st.PropertyValues("Env")) != 1 {
		t.Errorf("StreamByName: %v %v", ok, st)
	}
}

func TestUpdateConflicts(t *testing.T) {
	site := startSim(t, SiteOptions{Alias: "dev", Seed: testSeed(t)}).Site("dev")
	c := newRaw(t, site)
	c.user = "UserDirectory=CORP; UserId=boss"
	path := "/qrs/app/11111111-1111-1111-1111-111111111111"
	var a appJSON
	c.ok(200, "GET", path, nil, nil, &a)
	read := a.str("modifiedDate")

	a["description"] = "changed"
	var updated appJSON
	c.ok(200, "PUT", path, nil, a, &updated)
	if updated.str("description") != "changed" || updated.str("modifiedByUserName") != `CORP\boss` {
		t.Fatalf("after PUT: %v %v", updated["description"], updated["modifiedByUserName"])
	}
	if !parseTime(updated.str("modifiedDate")).After(parseTime(read)) {
		t.Fatalf("modifiedDate %s not after %s", updated.str("modifiedDate"), read)
	}
	if len(updated["customProperties"].([]any)) != 3 || len(updated["tags"].([]any)) != 1 {
		t.Fatalf("a whole-entity PUT lost properties or tags: %v", updated)
	}

	// The same stale read again: 409.
	a["description"] = "lost update"
	if status, body, _ := c.req("PUT", path, nil, a); status != 409 {
		t.Fatalf("stale PUT: %d %s", status, body)
	}
	// No modifiedDate: 409.
	delete(updated, "modifiedDate")
	if status, body, _ := c.req("PUT", path, nil, updated); status != 409 {
		t.Fatalf("PUT without modifiedDate: %d %s", status, body)
	}
	// Fields left out of a PUT are cleared: a client must send the whole entity.
	var cur appJSON
	c.ok(200, "GET", path, nil, nil, &cur)
	delete(cur, "customProperties")
	c.ok(200, "PUT", path, nil, cur, &updated)
	if len(updated["customProperties"].([]any)) != 0 {
		t.Fatalf("customProperties survived a PUT without them: %v", updated["customProperties"])
	}
	if got, _ := site.App("11111111-1111-1111-1111-111111111111"); got.Description != "changed" || got.ModifiedByUserName != `CORP\boss` {
		t.Fatalf("Site.App: %+v", got)
	}
}

func TestAppOperations(t *testing.T) {
	site := startSim(t, SiteOptions{Alias: "dev", Seed: testSeed(t)}).Site("dev")
	c := newRaw(t, site)
	c.user = "UserDirectory=CORP;UserId=boss"
	alphaID := "11111111-1111-1111-1111-111111111111"
	sales, _ := site.StreamByName("Sales")

	var cp appJSON
	c.ok(201, "POST", "/qrs/app/"+alphaID+"/copy", q("name", "Alpha copy"), nil, &cp)
	owner := cp["owner"].(map[string]any)
	if cp.str("name") != "Alpha copy" || owner["userId"] != "boss" || cp["published"] != false {
		t.Fatalf("copy: %v", cp)
	}
	if a, b := must(site.Content(alphaID)), must(site.Content(cp.str("id"))); a != b {
		t.Fatalf("copy content %v != %v", b, a)
	}

	var pub appJSON
	c.ok(200, "PUT", "/qrs/app/"+cp.str("id")+"/publish", q("stream", sales.ID, "name", "Alpha v2"), nil, &pub)
	if pub["published"] != true || pub["stream"].(map[string]any)["name"] != "Sales" || pub.str("name") != "Alpha v2" ||
		pub.str("publishTime") == "1753-01-01T00:00:00.000Z" {
		t.Fatalf("publish: %v", pub)
	}
	if status, body, _ := c.req("PUT", "/qrs/app/"+cp.str("id")+"/publish", q("stream", sales.ID), nil); status != 400 {
		t.Fatalf("publishing twice: %d %s", status, body)
	}

	beta := findApp(t, site, "Beta")
	var replaced appJSON
	c.ok(200, "PUT", "/qrs/app/"+alphaID+"/replace", q("app", beta.ID), nil, &replaced)
	if must(site.Content(beta.ID)) != must(site.Content(alphaID)) {
		t.Fatal("replace did not give the target the source's content")
	}
	if _, ok := site.App(alphaID); !ok {
		t.Fatal("replace removed the source")
	}

	before, _ := site.App(beta.ID)
	if status, body, _ := c.req("POST", "/qrs/app/"+beta.ID+"/reload", nil, nil); status != 204 {
		t.Fatalf("reload: %d %s", status, body)
	}
	after, _ := site.App(beta.ID)
	if !parseTime(after.LastReloadTime).After(parseTime(before.LastReloadTime)) {
		t.Fatalf("reload: lastReloadTime %s → %s", before.LastReloadTime, after.LastReloadTime)
	}

	if status, _, _ := c.req("DELETE", "/qrs/app/"+cp.str("id"), nil, nil); status != 204 {
		t.Fatalf("delete: %d", status)
	}
	if _, ok := site.App(cp.str("id")); ok {
		t.Fatal("deleted app still there")
	}
	if status, _, _ := c.req("DELETE", "/qrs/app/"+cp.str("id"), nil, nil); status != 404 {
		t.Fatalf("delete twice: %d", status)
	}

	// Tags and custom property definitions.
	var tag map[string]any
	c.ok(201, "POST", "/qrs/tag", nil, map[string]string{"name": "PromoteOnReload"}, &tag)
	if status, _, _ := c.req("POST", "/qrs/tag", nil, map[string]string{"name": "promoteonreload"}); status != 409 {
		t.Fatalf("duplicate tag: %d", status)
	}
	var def map[string]any
	c.ok(201, "POST", "/qrs/custompropertydefinition", nil,
		map[string]any{"name": "Region", "valueType": "Text", "choiceValues": []string{"EMEA"}, "objectTypes": []string{"App"}}, &def)
	if def["schemaPath"] != "CustomPropertyDefinition" || def["objectTypes"].([]any)[0] != "App" {
		t.Fatalf("definition %v", def)
	}
	var got map[string]any
	c.ok(200, "GET", "/qrs/tag/"+tag["id"].(string), nil, nil, &got)
	if got["name"] != "PromoteOnReload" {
		t.Fatalf("tag %v", got)
	}

	// Only the writes are writes.
	writes := site.Writes()
	methods := map[string]int{}
	for _, w := range writes {
		methods[w.Method]++
	}
	if methods["GET"] != 0 || methods["POST"] == 0 || methods["PUT"] == 0 || methods["DELETE"] != 2 {
		t.Fatalf("writes %v", methods)
	}
	site.ResetRequests()
	if len(site.Requests()) != 0 {
		t.Fatal("ResetRequests")
	}
}

func findApp(t testing.TB, site *Site, name string) struct{ ID string } {
	t.Helper()
	for _, a := range site.Apps() {
		if a.Name == name {
			return struct{ ID string }{a.ID}
		}
	}
	t.Fatalf("no app %q", name)
	return struct{ ID string }{}
}

func must[T any](v T, ok bool) T {
	if !ok {
		panic("not found")
	}
	return v
}

func TestFaults(t *testing.T) {
	site := startSim(t, SiteOptions{Alias: "dev", Seed: testSeed(t)}).Site("dev")
	c := newRaw(t, site)

	site.SetFaults(Faults{ErrorCount: 1, ErrorPaths: []string{"/QRS/ABOUT"}})
	if status, _, _ := c.req("GET", "/qrs/about", nil, nil); status != 503 {
		t.Fatalf("first: %d", status)
	}
	if status, _, _ := c.req("GET", "/qrs/about", nil, nil); status != 200 {
		t.Fatalf("second: %d", status)
	}
	if status, _, _ := c.req("GET", "/qrs/app", nil, nil); status != 200 {
		t.Fatalf("other path: %d", status)
	}

	// A "*" segment matches any one segment; ErrorSkip lets the first through.
	site.SetFaults(Faults{ErrorPaths: []string{"/qrs/*/full"}, ErrorSkip: 1, ErrorStatus: 400})
	got := map[string]int{}
	for _, p := range []string{"/qrs/app/full", "/qrs/stream/full", "/qrs/stream/full", "/qrs/about", "/qrs/app/full/x"} {
		status, _, _ := c.req("GET", p, nil, nil)
		got[p] = max(got[p], status)
	}
	want := map[string]int{"/qrs/app/full": 200, "/qrs/stream/full": 400, "/qrs/about": 200, "/qrs/app/full/x": 400}
	if !maps.Equal(got, want) {
		t.Fatalf("wildcard and skip: %v, want %v", got, want)
	}

	site.SetFaults(Faults{ErrorRate: 0.5, ErrorStatus: 502})
	var rates []int
	for range 4 {
		status, _, _ := c.req("GET", "/qrs/about", nil, nil)
		rates = append(rates, status)
	}
	if !slices.Equal(rates, []int{502, 200, 502, 200}) {
		t.Fatalf("rate 0.5: %v", rates)
	}

	site.SetFaults(Faults{DropConnections: true})
	req, _ := http.NewRequest("GET", site.URL()+"/qrs/about?xrfkey="+testKey, nil)
	req.Header.Set("X-Qlik-Xrfkey", testKey)
	if resp, err := c.hc.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("dropped connection answered %s", resp.Status)
	}

	site.SetFaults(Faults{Latency: 100 * time.Millisecond})
	start := time.Now()
	c.req("GET", "/qrs/about", nil, nil)
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Fatalf("latency: answered in %v", d)
	}

	site.SetFaults(Faults{BytesPerSecond: 20000})
	var exp map[string]any
	c.ok(201, "POST", "/qrs/app/11111111-1111-1111-1111-111111111111/export/"+newID(), nil, nil, &exp)
	start = time.Now()
	status, body, _ := c.send("GET", site.URL()+exp["downloadPath"].(string), http.Header{"X-Qlik-Xrfkey": {testKey}}, nil)
	if status != 200 || len(body) != 1000 {
		t.Fatalf("download: %d, %d bytes", status, len(body))
	}
	if d := time.Since(start); d < 40*time.Millisecond {
		t.Fatalf("1000 bytes at 20000 B/s took %v", d)
	}
	site.SetFaults(Faults{})

	var dropped int
	for _, r := range site.Requests() {
		if r.Status == 0 {
			dropped++
		}
	}
	// Go's transport retries a GET once on a reused connection: 1 or 2.
	if dropped == 0 {
		t.Fatal("request log: no dropped request")
	}
}

func TestCloseStopsTransfers(t *testing.T) {
	sim, err := Start(Options{Sites: []SiteOptions{{Alias: "dev", Seed: testSeed(t)}}})
	if err != nil {
		t.Fatal(err)
	}
	site := sim.Site("dev")
	c := newRaw(t, site)
	app, err := site.AddApp(AppSeed{Name: "Big", Owner: `CORP\rep`, Size: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	site.SetFaults(Faults{BytesPerSecond: 1 << 20})
	var exp map[string]any
	c.ok(201, "POST", "/qrs/app/"+app.ID+"/export/"+newID(), nil, nil, &exp)
	req, _ := http.NewRequest("GET", site.URL()+exp["downloadPath"].(string), nil)
	req.Header.Set("X-Qlik-Xrfkey", testKey)
	req.Header.Set("X-Qlik-User", c.user)
	resp, err := c.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	done := make(chan error, 1)
	go func() { done <- sim.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close hangs during a download")
	}
	// Bytes already sent may still be read; the rest never comes.
	if _, err := io.Copy(io.Discard, resp.Body); err == nil {
		t.Fatal("the download completed after Close")
	}
}

func TestStartErrors(t *testing.T) {
	for _, tc := range []struct {
		opts Options
		want string
	}{
		{Options{}, "qrssim: no sites; give at least one alias"},
		{Options{Sites: []SiteOptions{{Alias: "a/b"}}}, `qrssim: site alias "a/b": use letters, digits, '-', '_' or '.' (it names a folder)`},
		{Options{Sites: []SiteOptions{{Alias: "dev"}, {Alias: "DEV"}}}, `qrssim: site alias "DEV" is given twice`},
		{Options{Sites: []SiteOptions{{Alias: "dev", Seed: &Seed{Apps: []AppSeed{{Name: "x", Owner: `A\b`}}}}}},
			`qrssim: site "dev": seed: apps[0] (x): owner A\b is not a user; add it under users:`},
	} {
		sim, err := Start(tc.opts)
		if err == nil {
			sim.Close()
			t.Errorf("%+v: no error", tc.opts)
			continue
		}
		if err.Error() != tc.want {
			t.Errorf("got  %q\nwant %q", err, tc.want)
		}
	}
}

func TestCertificatesAreReused(t *testing.T) {
	dir := t.TempDir()
	start := func() (*Sim, string) {
		sim, err := Start(Options{CertDir: dir, Sites: []SiteOptions{{Alias: "dev"}}})
		if err != nil {
			t.Fatal(err)
		}
		return sim, readFile(t, dir+"/dev/root.pem")
	}
	sim, root1 := start()
	sim.Close()
	sim, root2 := start()
	defer sim.Close()
	if root1 != root2 {
		t.Fatal("a second run replaced valid certificates")
	}
	c := newRaw(t, sim.Site("dev"))
	c.ok(200, "GET", "/qrs/about", nil, nil, nil)
}

func mustJSON(t testing.TB, b []byte, out any) {
	t.Helper()
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("%v in %s", err, b)
	}
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A seeded share of all requests fails the same way in every run; methods
// narrow it; AfterWork fails a request once its work is done.
func TestFaultsSeededAfterWorkAndMethods(t *testing.T) {
	site := startSim(t, SiteOptions{Alias: "dev", Seed: testSeed(t)}).Site("dev")
	c := newRaw(t, site)
	run := func() []int {
		site.SetFaults(Faults{ErrorRate: 0.3, Seed: 42, ErrorStatus: 500})
		var out []int
		for range 40 {
			status, _, _ := c.req("GET", "/qrs/about", nil, nil)
			out = append(out, status)
		}
		return out
	}
	first := run()
	if !slices.Equal(first, run()) {
		t.Fatal("the same seed failed other requests")
	}
	if n := len(slices.DeleteFunc(slices.Clone(first), func(s int) bool { return s != 500 })); n < 4 || n > 20 {
		t.Errorf("%d of 40 requests failed at a rate of 0.3", n)
	}

	site.SetFaults(Faults{ErrorMethods: []string{"post"}, ErrorStatus: 500})
	if status, _, _ := c.req("GET", "/qrs/tag", nil, nil); status != 200 {
		t.Errorf("GET failed with a POST-only fault: %d", status)
	}

	// After the work: 500, yet the tag exists and its notification fired.
	r := newReceiver(t, false)
	site.SetFaults(Faults{})
	c.subscribe(r, "/cb", "name", "Tag")
	site.SetFaults(Faults{ErrorMethods: []string{"POST"}, ErrorPaths: []string{"/qrs/tag"}, ErrorStatus: 500, AfterWork: 1})
	if status, _, _ := c.req("POST", "/qrs/tag", nil, map[string]string{"name": "Made"}); status != 500 {
		t.Fatalf("after the work: %d, want 500", status)
	}
	site.SetFaults(Faults{})
	var tags []map[string]any
	c.ok(200, "GET", "/qrs/tag/full", q("filter", "name eq 'Made'"), nil, &tags)
	if len(tags) != 1 {
		t.Fatalf("%d tags made by the failed request, want 1", len(tags))
	}
	if cb := r.next(t); cb.infos[0].ObjectType != "Tag" {
		t.Errorf("notification %+v", cb.infos)
	}
	// Before the work (the default): nothing is made.
	site.SetFaults(Faults{ErrorMethods: []string{"POST"}, ErrorPaths: []string{"/qrs/tag"}, ErrorStatus: 500})
	c.req("POST", "/qrs/tag", nil, map[string]string{"name": "NotMade"})
	site.SetFaults(Faults{})
	c.ok(200, "GET", "/qrs/tag/full", q("filter", "name eq 'NotMade'"), nil, &tags)
	if len(tags) != 0 {
		t.Fatalf("the failed request made a tag")
	}
}

func TestFaultsThrottleAndDuplicateNotifications(t *testing.T) {
	site := startSim(t, SiteOptions{Alias: "dev", Seed: testSeed(t)}).Site("dev")
	c := newRaw(t, site)
	site.SetFaults(Faults{RequestsPerSecond: 2})
	var got []int
	var retryAfter string
	for range 4 {
		status, _, h := c.req("GET", "/qrs/about", nil, nil)
		got = append(got, status)
		if status == 429 {
			retryAfter = h.Get("Retry-After")
		}
	}
	if !slices.Equal(got, []int{200, 200, 429, 429}) || retryAfter != "1" {
		t.Fatalf("throttled at 2/s: %v, Retry-After %q", got, retryAfter)
	}
	time.Sleep(600 * time.Millisecond)
	if status, _, _ := c.req("GET", "/qrs/about", nil, nil); status != 200 {
		t.Fatalf("after waiting: %d", status)
	}

	site.SetFaults(Faults{DuplicateNotifications: true})
	r := newReceiver(t, false)
	c.subscribe(r, "/cb", "name", "App")
	c.ok(204, "POST", "/qrs/app/11111111-1111-1111-1111-111111111111/reload", nil, nil, nil)
	r.next(t)
	r.next(t)
	select {
	case cb := <-r.got:
		t.Fatalf("a third notification: %+v", cb)
	case <-time.After(200 * time.Millisecond):
	}
}

// A restart with downtime closes the port (connections refused), drops the
// subscriptions, and opens the same port again with the same data.
func TestRestartClosesThePort(t *testing.T) {
	site := startSim(t, SiteOptions{Alias: "dev", Seed: testSeed(t)}).Site("dev")
	c := newRaw(t, site)
	r := newReceiver(t, false)
	c.subscribe(r, "/cb", "name", "App")
	c.ok(204, "POST", "/qrs/app/11111111-1111-1111-1111-111111111111/reload", nil, nil, nil)
	before := must(site.App("11111111-1111-1111-1111-111111111111"))

	site.RestartFor(300 * time.Millisecond)
	if site.Listening() || len(site.Subscriptions()) != 0 || site.Restarts() != 1 {
		t.Fatalf("listening %v, %d subscriptions, %d restarts", site.Listening(), len(site.Subscriptions()), site.Restarts())
	}
	conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", site.Port()), time.Second)
	if err == nil {
		conn.Close()
		t.Fatal("the port accepts connections during the downtime")
	}
	deadline := time.Now().Add(3 * time.Second)
	for !site.Listening() {
		if time.Now().After(deadline) {
			t.Fatal("the site did not come back")
		}
		time.Sleep(10 * time.Millisecond)
	}
	var app map[string]any
	c.ok(200, "GET", "/qrs/app/11111111-1111-1111-1111-111111111111", nil, nil, &app)
	if app["lastReloadTime"] != before.LastReloadTime {
		t.Errorf("after the restart lastReloadTime %v, want %s (the data kept)", app["lastReloadTime"], before.LastReloadTime)
	}
}
