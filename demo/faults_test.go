package demo

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qs-promoter/qs-promoter/qrs"
	"github.com/qs-promoter/qs-promoter/qrs/qrssim"
)

// Issue 9's "done when": with a tenth of ALL QRS requests failing (every
// method and path, 500, half of them after doing the work) and every
// notification sent twice, an approval to 2 sites × 2 streams (Duplicate),
// an approval with Overwrite, a denial and a promote-on-reload all end
// exactly right: every copy once, none twice, the source back with its
// owner, one approval and one results e-mail each, nothing for the admin.

// tenPercent is the fault of every site in these tests, seeded.
func tenPercent(seed uint64) qrssim.Faults {
	return qrssim.Faults{ErrorRate: 0.1, Seed: seed, ErrorStatus: 500, AfterWork: 0.5, DuplicateNotifications: true}
}

// faultActs are the scenarios played under faults.
func faultActs() []Act {
	return []Act{
		approveDuplicate("App A"),
		publishForReview("Sales Pipeline"),
		approveToTestAndProd("Sales Pipeline"),
		deny("Sales Dashboard"),
		setPromoteOnReload("Nightly KPIs"),
		reloadVerified(reloadPromotes("Nightly KPIs"), "Nightly KPIs"),
	}
}

func approveDuplicate(app string) Act {
	return Act{
		Title: fmt.Sprintf("approve %q: Duplicate to test and prod, streams Sales and Everyone", app),
		Before: func(e *Env) map[string]string {
			id := e.AppID(app)
			return map[string]string{"source": id, "content": e.ContentHash("dev", id)}
		},
		Do: setProps(app, map[string][]string{
			"PromotionApproval": {"Approve"}, "PromoteToServer": {"test - Duplicate", "prod - Duplicate"}, "PromoteToStream": {"Sales", "Everyone"},
		}),
		Expect: []string{"promote-approved"},
		Check: func(c *Check) {
			e := c.Env
			for _, site := range promotionTargets {
				for _, stream := range []string{"Sales", "Everyone"} {
					apps := e.AppIn(site, app, stream)
					c.That(len(apps) == 1, "%s: %d apps named %q in %s, want 1", site, len(apps), app, stream)
					for _, a := range apps {
						c.That(e.ContentHash(site, a.ID) == c.Before["content"], "%s: the app in %s does not hold the approved content", site, stream)
					}
				}
				c.That(len(e.Apps(site, app)) == 2, "%s: %d apps named %q, want the 2 published", site, len(e.Apps(site, app)), app)
			}
			checkUnpublished(c, app)
			subjects := subjectsOf(e.MailsTo(c.MailMark, RepEmail))
			want := []string{fmt.Sprintf("'%s' promotion approved by: '%s'", app, Manager), fmt.Sprintf("'%s' promotion results", app)}
			c.That(len(subjects) == 2 && subjects[0] == want[0] && subjects[1] == want[1], "the owner got %q, want %q", subjects, want)
		},
	}
}

// reloadVerified makes an act's reload as a reload task would under
// faults: a failed request is repeated only when the reload did not happen
// (QRS cannot tell a started reload from one that was not, and neither
// does the client: it does not repeat one).
func reloadVerified(a Act, app string) Act {
	a.Do = func(ctx context.Context, e *Env) (string, error) {
		id, err := appByName(e, app)
		if err != nil {
			return "", err
		}
		before, _ := e.Sim.Site("dev").App(id)
		for attempt := 1; ; attempt++ {
			err := e.Reload(ctx, Scheduler, id)
			if now, _ := e.Sim.Site("dev").App(id); err == nil || now.LastReloadTime != before.LastReloadTime {
				return id, nil
			}
			if attempt == 5 || !qrs.IsRetryable(err) {
				return id, err
			}
		}
	}
	return a
}

// faultRuns is how many seeded runs TestScenariosUnderFaults makes:
// QSP_FAULT_RUNS (20 for the count), else 1.
func faultRuns(t *testing.T) int {
	v := os.Getenv("QSP_FAULT_RUNS")
	if v == "" {
		return 1
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("QSP_FAULT_RUNS=%q: want a positive whole number", v)
	}
	return n
}

func TestScenariosUnderFaults(t *testing.T) {
	runs := faultRuns(t)
	var passed atomic.Int32
	t.Run("runs", func(t *testing.T) {
		for i := range runs {
			seed := uint64(1 + i)
			t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
				env, p := startScenario(t, nil)
				for j, site := range env.Sim.Sites() {
					site.SetFaults(tenPercent(seed*10 + uint64(j)))
				}
				play(t, p, faultActs()...)
				checkNothingLeft(t, env)
				// The faults happened, and the client absorbed them.
				failed := 0
				for _, site := range env.Sim.Sites() {
					failed += countStatus(site, 500)
				}
				if failed < 10 {
					t.Errorf("only %d requests failed: the faults did not happen", failed)
				}
				t.Logf("seed %d: %d requests answered 500, %d checks passed", seed, failed, p.Checks())
				if !t.Failed() {
					passed.Add(1)
				}
			})
		}
	})
	t.Logf("%d of %d runs under faults ended exactly right", passed.Load(), runs)
}

// checkNothingLeft checks what no act may leave behind: a temporary app of
// the daemon's on any site, an e-mail to the admin.
func checkNothingLeft(t testing.TB, env *Env) {
	t.Helper()
	for _, site := range env.Sim.Sites() {
		for _, a := range site.Apps() {
			if strings.HasPrefix(a.Name, "~qs-promoter ") {
				t.Errorf("%s: temporary app %q left behind", site.Alias(), a.Name)
			}
		}
	}
	if n := len(env.MailsTo(0, AdminEmail)); n != 0 {
		t.Errorf("the admin got %d failure e-mails", n)
	}
}

func countStatus(s *qrssim.Site, status int) int {
	n := 0
	for _, r := range s.Requests() {
		if r.Status == status {
			n++
		}
	}
	return n
}

// BenchmarkScenarios plays the scenarios of TestScenariosUnderFaults
// without faults, with every notification doubled, and with a tenth of all
// requests failing as well: isolated errors are absorbed by the client's
// retries (a first retry after about 100ms), not by the queue's backoff
// (10s), so the faulty runs take about as long as the clean ones (compare
// their ns/op, from each act's change to its checks; exec-s/op is the time
// the daemon spent executing; faults/op counts the requests answered 500,
// requeued/op the attempts of executions that had to run again).
func BenchmarkScenarios(b *testing.B) {
	for _, v := range []struct {
		name   string
		faults func(seed uint64) qrssim.Faults
	}{
		{"faults=none", func(uint64) qrssim.Faults { return qrssim.Faults{} }},
		{"faults=duplicates", func(uint64) qrssim.Faults { return qrssim.Faults{DuplicateNotifications: true} }},
		{"faults=10pct+duplicates", tenPercent},
	} {
		b.Run(v.name, func(b *testing.B) {
			failed, requeued, executing := 0, 0, time.Duration(0)
			for i := range b.N {
				b.StopTimer()
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				p := &Player{ActTimeout: 30 * time.Second}
				env, err := Start(ctx, Options{Dir: b.TempDir(), Seeds: scenarioSeeds(), CoalesceWindow: 50 * time.Millisecond})
				if err != nil {
					b.Fatal(err)
				}
				p.Env = env
				for j, site := range env.Sim.Sites() {
					site.SetFaults(v.faults(uint64(i*10 + j + 1)))
				}
				var problems []string
				for n, a := range faultActs() {
					// Only the act is timed, not the wait for the quiet
					// before it (background renewals and catch-ups).
					if err := env.Settle(ctx); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
					problems = append(problems, p.Play(ctx, n+1, a)...)
					b.StopTimer()
				}
				for _, site := range env.Sim.Sites() {
					failed += countStatus(site, 500)
				}
				reps, _ := env.Reports(0)
				for _, r := range reps {
					if r.WillRetry {
						requeued++
					}
					executing += r.Duration
				}
				cancel()
				if err := env.Close(); err != nil {
					b.Error(err)
				}
				if len(problems) > 0 {
					b.Fatal(strings.Join(problems, "\n"))
				}
			}
			b.ReportMetric(float64(failed)/float64(b.N), "faults/op")
			b.ReportMetric(float64(requeued)/float64(b.N), "requeued/op")
			b.ReportMetric(executing.Seconds()/float64(b.N), "exec-s/op")
		})
	}
}
