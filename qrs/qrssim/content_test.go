package qrssim

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"
)

// export exports an app and downloads it, returning the bytes.
func (c *raw) export(appID string, skipData bool) []byte {
	c.t.Helper()
	query := q()
	if skipData {
		query = q("skipData", "true")
	}
	token := newID()
	var exp map[string]any
	c.ok(201, "POST", "/qrs/app/"+appID+"/export/"+token, query, nil, &exp)
	if exp["exportToken"] != token || exp["appId"] != appID || exp["cancelled"] != false || exp["schemaPath"] != "AppExportResponse" {
		c.t.Fatalf("export response %v", exp)
	}
	path := exp["downloadPath"].(string)
	if !strings.HasPrefix(path, "/tempcontent/") || !strings.Contains(path, ".qvf?serverNodeId=") {
		c.t.Fatalf("downloadPath %q", path)
	}
	// The original promoter sends the header only; that works.
	status, body, h := c.send("GET", c.site.URL()+path, http.Header{"X-Qlik-Xrfkey": {testKey}}, nil)
	if status != 200 {
		c.t.Fatalf("download: %d %s", status, body)
	}
	if h.Get("Content-Length") == "" {
		c.t.Error("download without Content-Length")
	}
	// Once only.
	if status, _, _ := c.send("GET", c.site.URL()+path, http.Header{"X-Qlik-Xrfkey": {testKey}}, nil); status != 404 {
		c.t.Fatalf("second download: %d", status)
	}
	return body
}

// upload uploads content (as an unsized, chunked stream) and returns the new app.
func (c *raw) upload(name string, keepData bool, content []byte) appJSON {
	c.t.Helper()
	var app appJSON
	c.ok(201, "POST", "/qrs/app/upload", q("name", name, "keepdata", map[bool]string{true: "true", false: "false"}[keepData]),
		iotest.HalfReader(bytes.NewReader(content)), &app)
	return app
}

func TestContentIdentity(t *testing.T) {
	sim := startSim(t, SiteOptions{Alias: "dev", Seed: testSeed(t)}, SiteOptions{Alias: "test", Seed: testSeed(t)})
	dev, test := sim.Site("dev"), sim.Site("test")
	cd, ct := newRaw(t, dev), newRaw(t, test)
	alphaID := "11111111-1111-1111-1111-111111111111"
	alpha := must(dev.Content(alphaID))
	if alpha.Size != 1000 || !strings.HasPrefix(alpha.Hash, "sim:") {
		t.Fatalf("seeded content %+v", alpha)
	}
	// Same seed, other site: other content (an overwrite is visible).
	if must(test.Content(alphaID)) == alpha {
		t.Fatal("two sites generated the same content for their apps")
	}

	data := cd.export(alphaID, false)
	if int64(len(data)) != alpha.Size {
		t.Fatalf("exported %d bytes, content size %d", len(data), alpha.Size)
	}
	if again := cd.export(alphaID, false); !bytes.Equal(again, data) {
		t.Fatal("two exports of one app differ")
	}
	up := ct.upload("Alpha", true, data)
	if got := must(test.Content(up.str("id"))); got != alpha {
		t.Fatalf("uploaded content %+v, want %+v", got, alpha)
	}
	if up["published"] != false || up["stream"] != nil || up.str("publishTime") != "1753-01-01T00:00:00.000Z" {
		t.Fatalf("uploaded app is not unpublished: %v", up)
	}
	if up["owner"].(map[string]any)["userId"] != "sa_api" || up["fileSize"].(float64) != 1000 {
		t.Fatalf("uploaded app %v", up)
	}
	// lastReloadTime travels with the content.
	src, _ := dev.App(alphaID)
	if up.str("lastReloadTime") != src.LastReloadTime {
		t.Errorf("lastReloadTime %s, want %s", up.str("lastReloadTime"), src.LastReloadTime)
	}
	// And a re-export reproduces the bytes.
	if back := ct.export(up.str("id"), false); !bytes.Equal(back, data) {
		t.Fatal("export after upload differs")
	}

	// Without data: smaller, deterministic, the same both ways.
	nodata := cd.export(alphaID, true)
	if len(nodata) >= len(data) {
		t.Fatalf("skipData export is %d bytes, full %d", len(nodata), len(data))
	}
	if !bytes.Equal(nodata, cd.export(alphaID, true)) {
		t.Fatal("skipData exports differ")
	}
	a1 := ct.upload("no data 1", true, nodata)
	a2 := ct.upload("no data 2", false, data)
	if must(test.Content(a1.str("id"))) != must(test.Content(a2.str("id"))) {
		t.Fatal("skipData export and keepdata=false upload differ")
	}
	if must(test.Content(a2.str("id"))) == alpha {
		t.Fatal("keepdata=false kept the data")
	}

	// A corrupted generated file is foreign content, identified by its hash.
	bad := bytes.Clone(data)
	bad[len(bad)-1] ^= 1
	sum := sha256.Sum256(bad)
	fa := ct.upload("corrupt", true, bad)
	if got := must(test.Content(fa.str("id"))); got.Hash != "sha256:"+hex.EncodeToString(sum[:]) || got.Size != int64(len(bad)) {
		t.Fatalf("corrupted upload %+v", got)
	}
	if !bytes.Equal(ct.export(fa.str("id"), false), bad) {
		t.Fatal("foreign content does not export as uploaded")
	}
	// Truncated and arbitrary uploads too.
	for _, b := range [][]byte{data[:500], []byte("not a qvf")} {
		a := ct.upload("foreign", true, b)
		if got := must(test.Content(a.str("id"))); got.Size != int64(len(b)) || !strings.HasPrefix(got.Hash, "sha256:") {
			t.Fatalf("foreign upload of %d bytes: %+v", len(b), got)
		}
	}

	// Upload checks.
	if status, body, _ := ct.req("POST", "/qrs/app/upload", q("name", "x"), []byte("abc")); status != 415 {
		t.Fatalf("JSON content type: %d %s", status, body)
	}
	if status, _, _ := ct.req("POST", "/qrs/app/upload", nil, io.Reader(bytes.NewReader(data))); status != 400 {
		t.Fatalf("no name: %d", status)
	}
	if dev.ContentBytesServed() == 0 || test.ContentBytesReceived() == 0 {
		t.Fatal("content counters stayed 0")
	}
}

func TestExportCancelAndOwner(t *testing.T) {
	site := startSim(t, SiteOptions{Alias: "dev", Seed: testSeed(t)}).Site("dev")
	c := newRaw(t, site)
	id := "11111111-1111-1111-1111-111111111111"
	token := newID()
	var exp, cancel map[string]any
	c.ok(201, "POST", "/qrs/app/"+id+"/export/"+token, nil, nil, &exp)
	c.ok(200, "DELETE", "/qrs/app/"+id+"/export/"+token, nil, nil, &cancel)
	if cancel["cancelled"] != true || cancel["downloadPath"] != "" {
		t.Fatalf("cancel %v", cancel)
	}
	if status, _, _ := c.req("GET", exp["downloadPath"].(string), nil, nil); status != 404 {
		t.Fatalf("download after cancel: %d", status)
	}

	// Only the user who exported may download.
	c.ok(201, "POST", "/qrs/app/"+id+"/export/"+newID(), nil, nil, &exp)
	other := newRaw(t, site)
	other.user = "UserDirectory=CORP;UserId=rep"
	if status, _, _ := other.req("GET", exp["downloadPath"].(string), nil, nil); status != 403 {
		t.Fatalf("download by another user: %d", status)
	}
	if status, _, _ := c.req("GET", exp["downloadPath"].(string), nil, nil); status != 200 {
		t.Fatalf("download by the exporter (xrfkey in query and header): %d", status)
	}
}

func TestGeneratedContentStreams(t *testing.T) {
	// The generator and the recogniser agree without holding the content.
	b := seededBlob("dev/x", 10<<20+7)
	cs := &contentStore{dir: func() (string, error) { return t.TempDir(), nil }}
	rc, _ := b.open()
	got, err := cs.receive(iotest.OneByteReader(io.LimitReader(rc, 100)))
	if err != nil || got.gen || got.id.Size != 100 {
		t.Fatalf("truncated: %+v %v", got, err)
	}
	rc, _ = b.open()
	got, err = cs.receive(rc)
	if err != nil || got.id != b.id || got.data != nil {
		t.Fatalf("whole: %+v %v", got.id, err)
	}
	// A large foreign upload goes to disk.
	rc, _ = b.open()
	big, err := cs.receive(io.MultiReader(strings.NewReader("x"), rc))
	if err != nil || big.file == "" || big.id.Size != b.id.Size+1 {
		t.Fatalf("large foreign: %+v %v", big, err)
	}
}
