package actions

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/qs-promoter/qs-promoter/engine"
	"github.com/qs-promoter/qs-promoter/qrs"
	"github.com/qs-promoter/qs-promoter/qrs/qrssim"
)

// testSites starts simulated sites (dev with its default seed, the others
// with the target seed) and returns them with Deps holding a client for each.
func testSites(t testing.TB, aliases ...string) (*qrssim.Sim, Deps) {
	t.Helper()
	opts := qrssim.Options{}
	for _, a := range aliases {
		opts.Sites = append(opts.Sites, qrssim.SiteOptions{Alias: a, Seed: qrssim.DefaultSeed(a)})
	}
	sim, err := qrssim.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	d := Deps{Sites: map[string]*qrs.Client{}, Retry: fastRetry, TempDir: t.TempDir(), Log: slog.New(slog.DiscardHandler)}
	for _, s := range sim.Sites() {
		cfg := s.ClientConfig()
		cfg.Log = slog.New(slog.DiscardHandler)
		cfg.RetryBackoff = 5 * time.Millisecond
		c, err := qrs.NewClient(cfg)
		if err != nil {
			t.Fatal(err)
		}
		d.Sites[s.Alias()] = c
	}
	return sim, d
}

// readOnly returns d with read-only clients, as dry-runs get them.
func readOnly(d Deps) Deps {
	ro := d
	ro.Sites = map[string]*qrs.Client{}
	for a, c := range d.Sites {
		ro.Sites[a] = c.ReadOnly()
	}
	return ro
}

// simApp returns the app named name on site s.
func simApp(t testing.TB, s *qrssim.Site, name string) qrs.App {
	t.Helper()
	for _, a := range s.Apps() {
		if a.Name == name {
			return a
		}
	}
	t.Fatalf("site %s has no app %q", s.Alias(), name)
	return qrs.App{}
}

// simFacts builds the facts of an event about app on site s, as the daemon does.
func simFacts(t testing.TB, s *qrssim.Site, app qrs.App) *engine.Facts {
	t.Helper()
	ev := &engine.Event{Site: s.Alias(), ReceivedAt: time.Now(), App: &app,
		Notification: []qrs.ChangeInfo{{ChangeType: qrs.ChangeUpdate, ObjectType: "App", ObjectID: app.ID, OriginatorHostName: "qlik-dev.company.com"}}}
	if u, ok := s.UserByAccount(app.Owner.UserDirectory + `\` + app.Owner.UserID); ok {
		ev.Owner = &u
	}
	f, err := engine.NewFacts(ev, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.Event.OriginatorHost = "qlik-dev.company.com"
	return f
}

// helperApps lists apps left with a temporary name.
func helperApps(s *qrssim.Site) []string {
	var out []string
	for _, a := range s.Apps() {
		if strings.HasPrefix(a.Name, "~qs-promoter") {
			out = append(out, a.Name)
		}
	}
	return out
}

// countWrites counts the site's writes whose path contains part.
func countWrites(s *qrssim.Site, method, part string) int {
	n := 0
	for _, r := range s.Writes() {
		if r.Method == method && strings.Contains(strings.ToLower(r.Path), part) && r.Status < 300 && r.Status > 0 {
			n++
		}
	}
	return n
}
