package qrs_test

// Integration tests: the client against the QRS simulator over real TLS
// sockets.

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/qs-promoter/qs-promoter/qrs"
	"github.com/qs-promoter/qs-promoter/qrs/qrssim"
)

// startSim starts a dev and a test site seeded like `qs-promoter sim`.
func startSim(t *testing.T) *qrssim.Sim {
	t.Helper()
	sim, err := qrssim.Start(qrssim.Options{Sites: []qrssim.SiteOptions{
		{Alias: "dev", Seed: qrssim.DefaultSeed("dev")},
		{Alias: "test", Seed: qrssim.DefaultSeed("test")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	return sim
}

func simClient(t testing.TB, site *qrssim.Site, mod func(*qrs.SiteConfig)) *qrs.Client {
	t.Helper()
	cfg := site.ClientConfig()
	cfg.Log = slog.New(slog.DiscardHandler)
	cfg.RetryBackoff = time.Millisecond
	if mod != nil {
		mod(&cfg)
	}
	c, err := qrs.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func appNamed(t *testing.T, c *qrs.Client, name string) *qrs.App {
	t.Helper()
	apps, err := c.Apps(context.Background(), qrs.Eq("name", name))
	if err != nil {
		t.Fatal(err)
	}
	if len(apps) != 1 {
		t.Fatalf("%d apps named %q", len(apps), name)
	}
	return &apps[0]
}

func TestSimEveryCall(t *testing.T) {
	sim := startSim(t)
	dev, test := sim.Site("dev"), sim.Site("test")
	c := simClient(t, dev, func(c *qrs.SiteConfig) { c.User = `CORP\sales_manager` })
	tc := simClient(t, test, nil)
	ctx := context.Background()

	about, err := c.About(ctx)
	if err != nil || about.BuildVersion == "" {
		t.Fatalf("about: %+v %v", about, err)
	}

	all, err := c.Apps(ctx, nil)
	if err != nil || len(all) == 0 {
		t.Fatalf("apps: %d %v", len(all), err)
	}
	app := appNamed(t, c, "Sales Pipeline")
	got, err := c.App(ctx, app.ID)
	if err != nil || got.Name != app.Name || got.ModifiedDate == "" {
		t.Fatalf("app: %+v %v", got, err)
	}
	if _, err := c.App(ctx, "00000000-0000-4000-8000-000000000000"); !qrs.IsNotFound(err) {
		t.Errorf("unknown app: %v, want not found", err)
	}

	streams, err := c.Streams(ctx, qrs.Eq("name", "sales")) // case-insensitive
	if err != nil || len(streams) != 1 {
		t.Fatalf("streams: %+v %v", streams, err)
	}
	sales := streams[0]
	if s, err := c.Stream(ctx, sales.ID); err != nil || s.Name != "Sales" {
		t.Fatalf("stream: %+v %v", s, err)
	}
	review, err := c.Streams(ctx, qrs.Eq("name", "Review"))
	if err != nil || len(review) != 1 || len(review[0].PropertyValues("EmailAlertOnPublishTo")) != 1 {
		t.Fatalf("review stream: %+v %v", review, err)
	}

	users, err := c.Users(ctx, qrs.Eq("userDirectory", "CORP"))
	if err != nil || len(users) < 2 {
		t.Fatalf("users: %d %v", len(users), err)
	}
	if u, err := c.User(ctx, users[0].ID); err != nil || u.UserID != users[0].UserID {
		t.Fatalf("user: %+v %v", u, err)
	}
	byMail, err := c.UserByEmail(ctx, "SAM.Rep@Example.com")
	if err != nil || len(byMail) != 1 || byMail[0].UserID != "sales_rep" || byMail[0].Email() != "sam.rep@example.com" {
		t.Fatalf("user by e-mail: %+v %v", byMail, err)
	}
	if none, err := c.UserByEmail(ctx, "nobody@example.com"); err != nil || len(none) != 0 {
		t.Fatalf("unknown e-mail: %+v %v", none, err)
	}

	tag, err := c.CreateTag(ctx, "Promoted")
	if err != nil || tag.ID == "" {
		t.Fatalf("create tag: %+v %v", tag, err)
	}
	if tags, err := c.Tags(ctx, qrs.Eq("name", "promoted")); err != nil || len(tags) != 1 || tags[0].ID != tag.ID {
		t.Fatalf("tags: %+v %v", tags, err)
	}
	def, err := c.CreateCustomPropertyDefinition(ctx, qrs.CustomPropertyDefinition{
		Name: "PromotedFrom", ObjectTypes: []string{"App"}, ChoiceValues: []string{"dev"}})
	if err != nil || def.ID == "" {
		t.Fatalf("create definition: %+v %v", def, err)
	}
	defs, err := c.CustomPropertyDefinitions(ctx, qrs.Eq("name", "PromoteToServer"))
	if err != nil || len(defs) != 1 || len(defs[0].ChoiceValues) == 0 {
		t.Fatalf("definitions: %+v %v", defs, err)
	}

	// Update: the change lands, what App does not model survives.
	before := rawKeys(t, app)
	updated, err := c.UpdateApp(ctx, app.ID, func(a *qrs.App) error {
		a.Description = "approved"
		a.Tags = append(a.Tags, qrs.TagCondensed{ID: tag.ID, Name: tag.Name})
		a.CustomProperties = append(a.CustomProperties, qrs.CustomPropertyValue{Value: "dev",
			Definition: qrs.CustomPropertyDefinitionCondensed{ID: def.ID, Name: def.Name}})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if updated.Description != "approved" || !updated.HasTag("promoted") || len(updated.PropertyValues("PromotedFrom")) != 1 ||
		updated.ModifiedDate == app.ModifiedDate || updated.ModifiedByUserName != `CORP\sales_manager` {
		t.Errorf("updated: %+v", updated)
	}
	if after := rawKeys(t, updated); after != before {
		t.Errorf("fields changed by the update:\nbefore %s\nafter  %s", before, after)
	}

	// Copy, publish, replace, reload, export → upload, delete.
	cp, err := c.CopyApp(ctx, app.ID, "Sales Pipeline (copy)")
	if err != nil || cp.ID == app.ID || cp.Name != "Sales Pipeline (copy)" || cp.Published {
		t.Fatalf("copy: %+v %v", cp, err)
	}
	if content(t, dev, cp.ID) != content(t, dev, app.ID) {
		t.Error("the copy holds other content")
	}
	pub, err := c.PublishApp(ctx, cp.ID, sales.ID, "Sales Pipeline (published)")
	if err != nil || !pub.Published || pub.Stream == nil || pub.Stream.ID != sales.ID || pub.Name != "Sales Pipeline (published)" {
		t.Fatalf("publish: %+v %v", pub, err)
	}
	other := appNamed(t, c, "Sales Pipeline")
	if _, err := c.ReplaceApp(ctx, other.ID, pub.ID); err != nil {
		t.Fatalf("replace: %v", err)
	}
	if err := c.ReloadApp(ctx, app.ID); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if r, err := c.App(ctx, app.ID); err != nil || r.LastReloadTime == app.LastReloadTime {
		t.Errorf("reload left lastReloadTime at %s: %v", app.LastReloadTime, err)
	}

	d, err := c.ExportApp(ctx, app.ID, false)
	if err != nil {
		t.Fatal(err)
	}
	if d.Size != content(t, dev, app.ID).Size || !strings.HasSuffix(d.Name, ".qvf") {
		t.Errorf("download %q size %d", d.Name, d.Size)
	}
	up, err := tc.UploadApp(ctx, "Sales Pipeline (from dev)", true, d, d.Size)
	d.Close()
	if err != nil {
		t.Fatal(err)
	}
	if up.Published || content(t, test, up.ID) != content(t, dev, app.ID) {
		t.Errorf("upload: %+v holds other content", up)
	}

	if err := c.DeleteApp(ctx, cp.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.App(ctx, cp.ID); !qrs.IsNotFound(err) {
		t.Errorf("deleted app: %v", err)
	}

	// Subscriptions.
	h1, err := c.Subscribe(ctx, qrs.Subscription{Name: "App", ChangeType: qrs.ChangeUpdate, PropertyName: "lastReloadTime",
		Filter: qrs.Eq("stream.name", "Sales"), URL: "http://127.0.0.1:1/reloaded"})
	if err != nil {
		t.Fatal(err)
	}
	h2, err := c.Subscribe(ctx, qrs.Subscription{Name: "App", ChangeType: qrs.ChangeUpdate, URL: "http://127.0.0.1:1/updated"})
	if err != nil || h2 == h1 {
		t.Fatalf("second subscription %q %v", h2, err)
	}
	if n := len(dev.Subscriptions()); n != 2 {
		t.Errorf("%d subscriptions, want 2", n)
	}
	if err := c.Unsubscribe(ctx, h1); err != nil {
		t.Fatal(err)
	}
	if n := len(dev.Subscriptions()); n != 1 {
		t.Errorf("%d subscriptions after unsubscribing, want 1", n)
	}

	for _, r := range dev.Requests() {
		if r.User != "UserDirectory=CORP;UserId=sales_manager" {
			t.Errorf("%s %s ran as %q", r.Method, r.Path, r.User)
			break
		}
	}
}

// rawKeys lists an app's JSON fields, nested ones included.
func rawKeys(t *testing.T, a *qrs.App) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(a.Raw(), &m); err != nil {
		t.Fatal(err)
	}
	var keys []string
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		if obj, ok := v.(map[string]any); ok {
			for k, v := range obj {
				keys = append(keys, prefix+k)
				walk(prefix+k+".", v)
			}
		}
	}
	walk("", m)
	slices.Sort(keys)
	return fmt.Sprint(keys)
}

func content(t *testing.T, s *qrssim.Site, id string) qrssim.Content {
	t.Helper()
	c, ok := s.Content(id)
	if !ok {
		t.Fatalf("site %s has no app %s", s.Alias(), id)
	}
	return c
}

func TestSimReadOnlyWritesNothing(t *testing.T) {
	sim := startSim(t)
	dev := sim.Site("dev")
	ro := simClient(t, dev, nil).ReadOnly()
	ctx := context.Background()
	app := appNamed(t, ro, "Sales Pipeline")
	if _, err := ro.UpdateApp(ctx, app.ID, func(a *qrs.App) error { a.Name = "x"; return nil }); !errors.Is(err, qrs.ErrReadOnly) {
		t.Errorf("update: %v", err)
	}
	if _, err := ro.ExportApp(ctx, app.ID, true); !errors.Is(err, qrs.ErrReadOnly) {
		t.Errorf("export: %v", err)
	}
	if err := ro.DeleteApp(ctx, app.ID); !errors.Is(err, qrs.ErrReadOnly) {
		t.Errorf("delete: %v", err)
	}
	if w := dev.Writes(); len(w) != 0 {
		t.Errorf("writes reached the site: %+v", w)
	}
}

// rawClient is a plain HTTPS client holding the site's certificates.
func rawClient(t *testing.T, certDir string, withCert bool) *http.Client {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(readFile(t, filepath.Join(certDir, "root.pem"))) {
		t.Fatal("root.pem")
	}
	tc := &tls.Config{RootCAs: pool}
	if withCert {
		cert, err := tls.LoadX509KeyPair(filepath.Join(certDir, "client.pem"), filepath.Join(certDir, "client_key.pem"))
		if err != nil {
			t.Fatal(err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: tc}, Timeout: 10 * time.Second}
}

func TestSimXrfkeyChecked(t *testing.T) {
	sim := startSim(t)
	dev := sim.Site("dev")
	hc := rawClient(t, dev.CertDir(), true)
	for _, tc := range []struct {
		name, query, header string
		want                int
	}{
		{"matching", "xrfkey=0123456789abcdef", "0123456789abcdef", 200},
		{"mismatch", "xrfkey=0123456789abcdef", "fedcba9876543210", 403},
		{"missing header", "xrfkey=0123456789abcdef", "", 403},
		{"missing", "", "", 403},
	} {
		req, _ := http.NewRequest(http.MethodGet, dev.URL()+"/qrs/about?"+tc.query, nil)
		if tc.header != "" {
			req.Header.Set("X-Qlik-Xrfkey", tc.header)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, resp.StatusCode, body, tc.want)
		}
		if tc.want == 403 && !strings.Contains(string(body), "XSRF prevention check failed") {
			t.Errorf("%s: body %q", tc.name, body)
		}
	}
}

func TestSimNoClientCertificate(t *testing.T) {
	sim := startSim(t)
	dev := sim.Site("dev")
	resp, err := rawClient(t, dev.CertDir(), false).Get(dev.URL() + "/qrs/about?xrfkey=0123456789abcdef")
	if err == nil {
		resp.Body.Close()
		t.Fatalf("answered %d without a client certificate", resp.StatusCode)
	}
	if !strings.Contains(err.Error(), "tls") {
		t.Errorf("error %v is not a TLS handshake failure", err)
	}
}

func TestSimWrongCA(t *testing.T) {
	sim := startSim(t)
	dev, test := sim.Site("dev"), sim.Site("test")
	dir := t.TempDir()
	for _, f := range []string{"client.pem", "client_key.pem"} {
		writeFile(t, filepath.Join(dir, f), readFile(t, filepath.Join(dev.CertDir(), f)))
	}
	writeFile(t, filepath.Join(dir, "root.pem"), readFile(t, filepath.Join(test.CertDir(), "root.pem")))
	c := simClient(t, dev, func(c *qrs.SiteConfig) { c.CertDir = dir })
	_, err := c.About(context.Background())
	if err == nil {
		t.Fatal("trusted a server signed by another site's CA")
	}
	for _, w := range []string{`site "dev"`, filepath.Join(dir, "root.pem"), "could not be verified"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
	if qrs.IsRetryable(err) {
		t.Error("retryable")
	}
}

func TestSimConflictRereads(t *testing.T) {
	sim := startSim(t)
	dev := sim.Site("dev")
	c := simClient(t, dev, nil)
	other := simClient(t, dev, func(c *qrs.SiteConfig) { c.User = `CORP\sales_rep` })
	ctx := context.Background()
	app := appNamed(t, c, "Sales Pipeline")

	calls := 0
	got, err := c.UpdateApp(ctx, app.ID, func(a *qrs.App) error {
		calls++
		if calls == 1 {
			// Someone else saves between our read and our write.
			if _, err := other.UpdateApp(ctx, app.ID, func(a *qrs.App) error { a.Description = "theirs"; return nil }); err != nil {
				return err
			}
		}
		a.Name = "Sales Pipeline v2"
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if calls != 2 {
		t.Errorf("change applied %d times, want 2 (one re-read)", calls)
	}
	if got.Name != "Sales Pipeline v2" || got.Description != "theirs" {
		t.Errorf("after the conflict: name %q description %q", got.Name, got.Description)
	}
	var puts, conflicts int
	for _, r := range dev.Requests() {
		if r.Method == http.MethodPut {
			puts++
			if r.Status == http.StatusConflict {
				conflicts++
			}
		}
	}
	if puts != 3 || conflicts != 1 {
		t.Errorf("%d PUTs, %d conflicts; want 3 and 1", puts, conflicts)
	}
}

func TestSimFilterInjection(t *testing.T) {
	sim := startSim(t)
	c := simClient(t, sim.Site("dev"), nil)
	ctx := context.Background()
	src := appNamed(t, c, "Sales Pipeline")
	names := []string{`x' or name sw '`, `x`, `xylophone`, `a\b`, `a\\b`, `it's`, `50% & more #1`}
	for _, n := range names {
		if _, err := c.CopyApp(ctx, src.ID, n); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range names {
		apps, err := c.Apps(ctx, qrs.Eq("name", n))
		if err != nil {
			t.Fatalf("%q: %v", n, err)
		}
		if len(apps) != 1 || apps[0].Name != n {
			var got []string
			for _, a := range apps {
				got = append(got, a.Name)
			}
			t.Errorf("name eq %q found %q", n, got)
		}
	}
	if apps, err := c.Apps(ctx, qrs.And(qrs.StartsWith("name", "x"), qrs.Eq("published", false))); err != nil || len(apps) != 3 {
		t.Errorf("sw 'x' and unpublished: %d apps, %v", len(apps), err)
	}
	if apps, err := c.Apps(ctx, qrs.Eq("id", qrs.GUID(src.ID))); err != nil || len(apps) != 1 {
		t.Errorf("id eq guid: %d apps, %v", len(apps), err)
	}
}

func TestSimRetries(t *testing.T) {
	sim := startSim(t)
	dev := sim.Site("dev")
	c := simClient(t, dev, nil)
	ctx := context.Background()
	app := appNamed(t, c, "Sales Pipeline")

	count := func(method, prefix string) (n int) {
		for _, r := range dev.Requests() {
			if r.Method == method && strings.HasPrefix(strings.ToLower(r.Path), prefix) {
				n++
			}
		}
		return n
	}

	t.Run("GET retried after 503s", func(t *testing.T) {
		dev.ResetRequests()
		dev.SetFaults(qrssim.Faults{ErrorStatus: 503, ErrorCount: 2, ErrorPaths: []string{"/qrs/app/"}})
		defer dev.SetFaults(qrssim.Faults{})
		if _, err := c.App(ctx, app.ID); err != nil {
			t.Fatal(err)
		}
		if n := count("GET", "/qrs/app/"); n != 3 {
			t.Errorf("%d GETs, want 3", n)
		}
	})

	t.Run("GET retried after dropped connections", func(t *testing.T) {
		dev.ResetRequests()
		dev.SetFaults(qrssim.Faults{DropConnections: true, ErrorCount: 1, ErrorPaths: []string{"/qrs/app/"}})
		defer dev.SetFaults(qrssim.Faults{})
		if _, err := c.App(ctx, app.ID); err != nil {
			t.Fatal(err)
		}
		if n := count("GET", "/qrs/app/"); n != 2 {
			t.Errorf("%d GETs, want 2", n)
		}
	})

	t.Run("upload of a body that cannot be read again not retried", func(t *testing.T) {
		dev.ResetRequests()
		dev.SetFaults(qrssim.Faults{ErrorStatus: 503, ErrorCount: 1, ErrorPaths: []string{"/qrs/app/upload"}})
		defer dev.SetFaults(qrssim.Faults{})
		_, err := c.UploadApp(ctx, "once", true, io.MultiReader(bytes.NewReader(make([]byte, 1<<16))), -1)
		if !qrs.IsRetryable(err) {
			t.Fatalf("upload: %v, want a 503", err)
		}
		if n := count("POST", "/qrs/app/upload"); n != 1 {
			t.Errorf("%d uploads, want 1", n)
		}
		if apps, _ := c.Apps(ctx, qrs.Eq("name", "once")); len(apps) != 0 {
			t.Errorf("the failed upload made an app")
		}
	})
}

func TestSimExportCancelled(t *testing.T) {
	sim := startSim(t)
	dev := sim.Site("dev")
	c := simClient(t, dev, nil)
	ctx := context.Background()
	app := appNamed(t, c, "Sales Pipeline")
	d, err := c.ExportApp(ctx, app.ID, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(d, make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	d.Close()
	var export, cancel string
	for _, r := range dev.Requests() {
		switch {
		case r.Method == http.MethodPost && strings.Contains(r.Path, "/export/"):
			export = r.Path
		case r.Method == http.MethodDelete:
			cancel = r.Path
		}
	}
	if export == "" || !strings.EqualFold(cancel, export) {
		t.Errorf("export %q, cancelled %q", export, cancel)
	}
}

// Moved counts an app's bytes as they move: an export's download and an
// upload, each the app's size; a list or a JSON call moves no app.
func TestMovedCountsAppBytes(t *testing.T) {
	sim := startSim(t)
	moved := map[string]int{}
	count := func(c *qrs.SiteConfig) {
		c.Moved = func(site, direction string, n int) { moved[site+" "+direction] += n }
	}
	dev, test := simClient(t, sim.Site("dev"), count), simClient(t, sim.Site("test"), count)
	ctx := context.Background()
	src := appNamed(t, dev, "Sales Dashboard")
	if _, err := dev.Apps(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if len(moved) != 0 {
		t.Fatalf("a list counted as app bytes: %v", moved)
	}
	dl, err := dev.ExportApp(ctx, src.ID, false)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(dl)
	dl.Close()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := test.UploadApp(ctx, "Moved copy", true, bytes.NewReader(body), int64(len(body))); err != nil {
		t.Fatal(err)
	}
	if want := map[string]int{"dev download": len(body), "test upload": len(body)}; len(body) == 0 || fmt.Sprint(moved) != fmt.Sprint(want) {
		t.Errorf("moved %v, want %v", moved, want)
	}
}
