package qrssim

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/qs-promoter/qs-promoter/qrs"
)

// receiver records notification callbacks by path.
type receiver struct {
	srv *httptest.Server
	got chan callback
}

type callback struct {
	path  string
	body  []byte
	infos []qrs.ChangeInfo
}

func newReceiver(t *testing.T, tlsServer bool) *receiver {
	r := &receiver{got: make(chan callback, 100)}
	h := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		var infos []qrs.ChangeInfo
		if err := json.Unmarshal(b, &infos); err != nil {
			t.Errorf("callback body is not an array of ExternalChangeInfo: %v: %s", err, b)
		}
		r.got <- callback{path: req.URL.Path, body: b, infos: infos}
		w.WriteHeader(http.StatusNoContent)
	})
	if tlsServer {
		r.srv = httptest.NewTLSServer(h)
	} else {
		r.srv = httptest.NewServer(h)
	}
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) next(t *testing.T) callback {
	t.Helper()
	select {
	case cb := <-r.got:
		return cb
	case <-time.After(5 * time.Second):
		t.Fatal("no notification arrived")
	}
	return callback{}
}

// subscribe posts a subscription whose callback is the receiver's path.
func (c *raw) subscribe(r *receiver, path string, kv ...string) string {
	c.t.Helper()
	var out map[string]string
	c.ok(201, "POST", "/qrs/notification", q(kv...), jsonString(r.srv.URL+path), &out)
	if out["value"] == "" {
		c.t.Fatalf("no handle: %v", out)
	}
	return out["value"]
}

func jsonString(s string) []byte {
	b, _ := json.Marshal(s)
	return b
}

func TestNotifications(t *testing.T) {
	sim := startSim(t, SiteOptions{Alias: "dev", Seed: testSeed(t), HostName: "qlik-dev.example.com"})
	site := sim.Site("dev")
	c := newRaw(t, site)
	c.user = "UserDirectory=CORP;UserId=boss"
	r := newReceiver(t, false)
	alphaID := "11111111-1111-1111-1111-111111111111"
	beta := findApp(t, site, "Beta").ID
	sales, _ := site.StreamByName("Sales")

	h1 := c.subscribe(r, "/published", "name", "App", "changeType", "Update", "propertyName", "publishTime")
	h2 := c.subscribe(r, "/published", "name", "App", "changeType", "Update", "propertyName", "publishTime")
	if h1 == h2 {
		t.Fatal("the same subscription twice got the same handle")
	}
	c.ok(204, "DELETE", "/qrs/notification", q("handle", h2), nil, nil)
	c.subscribe(r, "/reloaded", "name", "app", "changetype", "2", "propertyname", "lastReloadTime")
	c.subscribe(r, "/beta-only", "name", "App", "filter", "name eq 'Beta'")
	c.subscribe(r, "/not-reload", "name", "App", "changetype", "update", "propertyname", "!lastReloadTime")
	c.subscribe(r, "/deleted", "name", "App", "changetype", "Delete", "filter", "name eq 'never matches'")
	if n := len(site.Subscriptions()); n != 5 {
		t.Fatalf("%d live subscriptions, want 5", n)
	}

	// Publish: the publishTime subscription, the filter one, the !lastReloadTime one.
	var cp appJSON
	c.ok(201, "POST", "/qrs/app/"+beta+"/copy", nil, nil, &cp) // Add for the copy (named Beta: filter matches)
	c.ok(200, "PUT", "/qrs/app/"+cp.str("id")+"/publish", q("stream", sales.ID), nil, nil)
	want := []string{"/beta-only", "/published", "/beta-only", "/not-reload"}
	var got []callback
	for range want {
		got = append(got, r.next(t))
	}
	var paths []string
	for _, cb := range got {
		paths = append(paths, cb.path)
	}
	if !slices.Equal(paths, want) {
		t.Fatalf("callbacks %v, want %v", paths, want)
	}
	add, pub := got[0].infos[0], got[1].infos[0]
	if add.ChangeType != qrs.ChangeAdd || add.ObjectID != cp.str("id") {
		t.Errorf("add: %+v", add)
	}
	if pub.ChangeType != qrs.ChangeUpdate || pub.ObjectType != "App" || pub.ObjectID != cp.str("id") ||
		pub.OriginatorHostName != "qlik-dev.example.com" || pub.SchemaPath != "ExternalChangeInfo" ||
		!slices.Equal(pub.ChangedProperties, []string{"modifiedDate", "publishTime", "published", "stream"}) {
		t.Errorf("publish: %+v", pub)
	}
	app, _ := site.App(cp.str("id"))
	if pub.ModifiedDate != app.ModifiedDate || pub.CreatedDate != app.CreatedDate || pub.OriginatorNodeID == "" {
		t.Errorf("publish dates/node: %+v vs app %s %s", pub, app.CreatedDate, app.ModifiedDate)
	}
	// The raw JSON has the real keys.
	var rawInfo []map[string]any
	mustJSON(t, got[1].body, &rawInfo)
	for _, k := range []string{"changeType", "objectType", "objectID", "changedProperties", "engineID", "engineType",
		"originatorNodeID", "originatorHostName", "originatorContextID", "createdDate", "modifiedDate", "schemaPath"} {
		if _, ok := rawInfo[0][k]; !ok {
			t.Errorf("callback without %q: %s", k, got[1].body)
		}
	}

	// Reload: only the lastReloadTime subscription (Alpha is not Beta).
	c.ok(204, "POST", "/qrs/app/"+alphaID+"/reload", nil, nil, nil)
	if cb := r.next(t); cb.path != "/reloaded" || !slices.Contains(cb.infos[0].ChangedProperties, "lastReloadTime") {
		t.Fatalf("reload: %s %+v", cb.path, cb.infos)
	}
	// Delete: filters are not applied to Delete (neither Beta's nor the other).
	c.ok(204, "DELETE", "/qrs/app/"+alphaID, nil, nil, nil)
	for _, want := range []string{"/beta-only", "/deleted"} {
		if cb := r.next(t); cb.path != want || cb.infos[0].ChangeType != qrs.ChangeDelete || cb.infos[0].ObjectID != alphaID {
			t.Fatalf("delete: %s %+v, want %s", cb.path, cb.infos, want)
		}
	}

	// Bad subscriptions.
	for _, tc := range []struct {
		query []string
		body  any
	}{
		{[]string{"name", "App"}, []byte("http://not-a-json-string")},
		{[]string{"name", "App"}, jsonString("ftp://x/y")},
		{[]string{"name", "Nope"}, jsonString("http://x/y")},
		{[]string{"name", "App", "changetype", "Sometimes"}, jsonString("http://x/y")},
		{[]string{"name", "App", "filter", "name eq"}, jsonString("http://x/y")},
	} {
		if status, body, _ := c.req("POST", "/qrs/notification", q(tc.query...), tc.body); status != 400 {
			t.Errorf("%v %v: %d %s", tc.query, tc.body, status, body)
		}
	}
}

func TestNotifyCopiesAndHTTPS(t *testing.T) {
	site := startSim(t, SiteOptions{Alias: "dev", Seed: testSeed(t), NotifyCopies: 3}).Site("dev")
	c := newRaw(t, site)
	r := newReceiver(t, true)
	c.subscribe(r, "/cb", "name", "App", "changetype", "Update")
	c.ok(204, "POST", "/qrs/app/11111111-1111-1111-1111-111111111111/reload", nil, nil, nil)
	for range 3 {
		if cb := r.next(t); cb.infos[0].ObjectID != "11111111-1111-1111-1111-111111111111" {
			t.Fatalf("copy: %+v", cb.infos)
		}
	}
}

func TestRestartDropsSubscriptions(t *testing.T) {
	site := startSim(t, SiteOptions{Alias: "dev", Seed: testSeed(t)}).Site("dev")
	c := newRaw(t, site)
	r := newReceiver(t, false)
	c.subscribe(r, "/before", "name", "App")

	status, body, _ := c.send("POST", site.URL()+"/sim/restart", nil, nil)
	if status != 204 {
		t.Fatalf("/sim/restart: %d %s", status, body)
	}
	if n := len(site.Subscriptions()); n != 0 {
		t.Fatalf("%d subscriptions after a restart", n)
	}
	// Deliveries keep their order, so had /before survived it would come first.
	c.subscribe(r, "/after", "name", "App")
	c.ok(204, "POST", "/qrs/app/11111111-1111-1111-1111-111111111111/reload", nil, nil, nil)
	if cb := r.next(t); cb.path != "/after" {
		t.Fatalf("got %s: the old subscription survived the restart", cb.path)
	}
	site.Restart()
	if n := len(site.Subscriptions()); n != 0 {
		t.Fatalf("%d subscriptions after Restart", n)
	}

	// A restart with downtime: health checks fail meanwhile, then recover.
	c.subscribe(r, "/x", "name", "App")
	if status, _, _ := c.send("POST", site.URL()+"/sim/restart?downtime=300ms", nil, nil); status != 204 {
		t.Fatalf("/sim/restart?downtime: %d", status)
	}
	req, _ := http.NewRequest("GET", site.URL()+"/qrs/about?xrfkey="+testKey, nil)
	req.Header.Set("X-Qlik-Xrfkey", testKey)
	if resp, err := c.hc.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("during downtime: %s", resp.Status)
	}
	if len(site.Subscriptions()) != 0 {
		t.Fatal("subscriptions survived a restart with downtime")
	}
	time.Sleep(300 * time.Millisecond)
	c.ok(200, "GET", "/qrs/about", nil, nil, nil)
}

func TestChangesSince(t *testing.T) {
	site := startSim(t, SiteOptions{Alias: "dev", Seed: testSeed(t)}).Site("dev")
	c := newRaw(t, site)
	since := qrs.FormatTime(time.Now().Add(-time.Second))
	c.ok(204, "POST", "/qrs/app/11111111-1111-1111-1111-111111111111/reload", nil, nil, nil)
	c.ok(201, "POST", "/qrs/tag", nil, map[string]string{"name": "New"}, nil)
	var changes []map[string]any
	c.ok(200, "GET", "/qrs/notification/changes", q("since", since, "types", "App"), nil, &changes)
	if len(changes) != 1 || changes[0]["type"] != "App" || changes[0]["changeType"].(float64) != 2 ||
		changes[0]["object"].(map[string]any)["id"] != "11111111-1111-1111-1111-111111111111" {
		t.Fatalf("changes %v", changes)
	}
	if status, _, _ := c.req("GET", "/qrs/notification/changes", nil, nil); status != 400 {
		t.Fatalf("without since: %d", status)
	}
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		sim, err := Start(Options{Sites: []SiteOptions{{Alias: "dev", Seed: testSeed(t)}, {Alias: "test"}}})
		if err != nil {
			t.Fatal(err)
		}
		defer sim.Close()
		r := newReceiver(t, false)
		defer r.srv.Close()
		c := newRaw(t, sim.Site("dev"))
		defer c.hc.CloseIdleConnections()
		c.subscribe(r, "/cb", "name", "App")
		c.ok(204, "POST", "/qrs/app/11111111-1111-1111-1111-111111111111/reload", nil, nil, nil)
		r.next(t)
	}()
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines before, %d after Close:\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}
