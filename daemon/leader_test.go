package daemon

import (
	"testing"
	"time"
)

// siteDown says down only for a recent failed check: a site never checked,
// or last seen down by a leader that has been silent since, is not known to
// be down (executions are not held back on a guess).
func TestSiteDownNeedsARecentCheck(t *testing.T) {
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	d := &Daemon{cfg: &Config{HealthInterval: 30 * time.Second}, leaseTTL: 15 * time.Second, now: func() time.Time { return now },
		sites: map[string]*site{}}
	stale := d.staleAfter()
	for _, c := range []struct {
		name    string
		checked bool
		up      bool
		age     time.Duration
		want    bool
	}{
		{"never checked", false, false, 0, false},
		{"up", true, true, time.Second, false},
		{"down, just checked", true, false, time.Second, true},
		{"down, checked as long ago as allowed", true, false, stale, true},
		{"down, but the view is stale", true, false, stale + time.Second, false},
	} {
		d.sites["dev"] = &site{alias: "dev", checked: c.checked, up: c.up, seenAt: now.Add(-c.age)}
		if got := d.siteDown("dev"); got != c.want {
			t.Errorf("%s: siteDown = %v, want %v", c.name, got, c.want)
		}
	}
	if d.siteDown("nosuchsite") {
		t.Error("an unknown site is down")
	}
}
