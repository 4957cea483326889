package qrs_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/qs-promoter/qs-promoter/qrs"
	"github.com/qs-promoter/qs-promoter/qrs/qrssim"
)

// promotionRig is a source site holding one small app and a target site
// with two streams: what a promotion reads and writes.
type promotionRig struct {
	src, dst *qrssim.Site
	sc, dc   *qrs.Client
	appID    string
	streams  []qrs.Stream // Sales, Everyone on dst
}

func newPromotionRig(t testing.TB, mod func(*qrs.SiteConfig)) *promotionRig {
	t.Helper()
	sim, err := qrssim.Start(qrssim.Options{Sites: []qrssim.SiteOptions{
		{Alias: "dev", Seed: qrssim.DefaultSeed("dev")},
		{Alias: "test", Seed: qrssim.DefaultSeed("test")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	r := &promotionRig{src: sim.Site("dev"), dst: sim.Site("test")}
	app, err := r.src.AddApp(qrssim.AppSeed{Name: "Promoted", Owner: `CORP\sales_rep`, Stream: "Sales", Size: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	r.appID = app.ID
	r.sc, r.dc = simClient(t, r.src, mod), simClient(t, r.dst, mod)
	for _, name := range []string{"Sales", "Everyone"} {
		s, ok := r.dst.StreamByName(name)
		if !ok {
			t.Fatalf("no stream %s on test", name)
		}
		r.streams = append(r.streams, s)
	}
	return r
}

// promote makes the calls of an approval promoting the app as name to both
// streams (Duplicate: the upload published to the first, a server-side copy
// of it to the second), then of an Overwrite of the first (a new upload
// replacing it, then deleted), then the source's update.
func (r *promotionRig) promote(ctx context.Context, name string) error {
	if _, err := r.sc.App(ctx, r.appID); err != nil {
		return err
	}
	if _, err := r.dc.Streams(ctx, qrs.Or(qrs.Eq("name", "Sales"), qrs.Eq("name", "Everyone"))); err != nil {
		return err
	}
	if _, err := r.dc.Apps(ctx, qrs.And(qrs.Eq("name", name), qrs.Eq("published", true))); err != nil {
		return err
	}
	export := func() ([]byte, error) {
		d, err := r.sc.ExportApp(ctx, r.appID, true)
		if err != nil {
			return nil, err
		}
		defer d.Close()
		return io.ReadAll(d)
	}
	qvf, err := export()
	if err != nil {
		return err
	}
	up, err := r.dc.UploadApp(ctx, "~helper "+name, true, bytes.NewReader(qvf), int64(len(qvf)))
	if err != nil {
		return err
	}
	cp, err := r.dc.CopyApp(ctx, up.ID, "~copy "+name)
	if err != nil {
		return err
	}
	for i, a := range []*qrs.App{up, cp} {
		if _, err := r.dc.PublishApp(ctx, a.ID, r.streams[i].ID, name); err != nil {
			return err
		}
	}
	// Overwrite: replace the app in the first stream with a new upload.
	qvf, err = export()
	if err != nil {
		return err
	}
	again, err := r.dc.UploadApp(ctx, "~overwrite "+name, true, bytes.NewReader(qvf), int64(len(qvf)))
	if err != nil {
		return err
	}
	if _, err := r.dc.ReplaceApp(ctx, again.ID, up.ID); err != nil {
		return err
	}
	if err := r.dc.DeleteApp(ctx, again.ID); err != nil {
		return err
	}
	_, err = r.sc.UpdateApp(ctx, r.appID, func(a *qrs.App) error { a.Description = "promoted as " + name; return nil })
	return err
}

// check says what is wrong with the target after promote(name): exactly one
// app of that name in each stream, no helper left, the source updated.
func (r *promotionRig) check(name string) error {
	var problems []string
	for _, s := range r.streams {
		n := 0
		for _, a := range r.dst.Apps() {
			if a.Name == name && a.Stream != nil && a.Stream.ID == s.ID {
				n++
			}
		}
		if n != 1 {
			problems = append(problems, fmt.Sprintf("%d apps %q in %s", n, name, s.Name))
		}
	}
	for _, a := range r.dst.Apps() {
		if strings.HasPrefix(a.Name, "~") && strings.HasSuffix(a.Name, " "+name) {
			problems = append(problems, fmt.Sprintf("app %q left behind", a.Name))
		}
	}
	if a, _ := r.src.App(r.appID); a.Description != "promoted as "+name {
		problems = append(problems, fmt.Sprintf("source description %q", a.Description))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}

// tenPercent fails a seeded tenth of every request to a site, with 500,
// half of them after doing the work.
func tenPercent(seed uint64) qrssim.Faults {
	return qrssim.Faults{ErrorRate: 0.1, Seed: seed, ErrorStatus: 500, AfterWork: 0.5}
}

func failures(s *qrssim.Site) int {
	n := 0
	for _, r := range s.Requests() {
		if r.Status == 500 {
			n++
		}
	}
	return n
}

// With a tenth of all requests failing (500, before or after the work),
// every promotion completes, and exactly once: the client absorbs the
// failures itself.
func TestPromotionCallsAbsorbTenPercentFaults(t *testing.T) {
	r := newPromotionRig(t, nil)
	r.src.SetFaults(tenPercent(1))
	r.dst.SetFaults(tenPercent(2))
	ctx := context.Background()
	for i := range 20 {
		name := fmt.Sprintf("Promoted %d", i)
		if err := r.promote(ctx, name); err != nil {
			t.Fatalf("promotion %d: %v", i, err)
		}
		if err := r.check(name); err != nil {
			t.Errorf("promotion %d: %v", i, err)
		}
	}
	n := failures(r.src) + failures(r.dst)
	if n < 20 {
		t.Fatalf("only %d requests failed: the faults did not happen", n)
	}
	t.Logf("20 promotions, %d requests answered 500", n)
}

// BenchmarkPromotionCalls times the calls of a promotion (Duplicate to two
// streams, then Overwrite) with no faults and with a tenth of all requests
// failing, at the client's default backoff: the difference is what the
// client's retries cost (faults/op says how many there were).
func BenchmarkPromotionCalls(b *testing.B) {
	for _, rate := range []int{0, 10} {
		b.Run(fmt.Sprintf("faults=%d%%", rate), func(b *testing.B) {
			r := newPromotionRig(b, func(cfg *qrs.SiteConfig) { cfg.RetryBackoff = qrs.DefaultRetryBackoff })
			if rate > 0 {
				r.src.SetFaults(tenPercent(1))
				r.dst.SetFaults(tenPercent(2))
			}
			ctx := context.Background()
			b.ResetTimer()
			for i := range b.N {
				name := fmt.Sprintf("Promoted %d", i)
				if err := r.promote(ctx, name); err != nil {
					b.Fatal(err)
				}
				if err := r.check(name); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(failures(r.src)+failures(r.dst))/float64(b.N), "faults/op")
		})
	}
}
