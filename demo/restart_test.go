package demo

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/qs-promoter/qs-promoter/qrs/qrssim"
)

// The watched site restarts with 1 s of downtime at a random moment: within
// resubscribe_interval (60 s in production, 3 s here) the daemon holds
// exactly one live set of subscriptions again, and an app published right
// after the restart, while QRS had no subscription to notify, still alerts
// the stream's approver, once. The health check is slowed to a minute so
// that it cannot be what notices: the renewal alone heals the restart.
func TestRestartedSiteIsSubscribedAgainAndCaughtUp(t *testing.T) {
	t.Parallel()
	const renewal = 3 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	env, err := Start(ctx, Options{Dir: t.TempDir(), Seeds: scenarioSeeds(), CoalesceWindow: 50 * time.Millisecond,
		Config: map[string]any{"resubscribe_interval": renewal.String(), "health_interval": "1m"}})
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	dev := env.Sim.Site("dev")

	for round := range 2 {
		name := fmt.Sprintf("Restart round %d", round)
		app, err := dev.AddApp(qrssim.AppSeed{Name: name, Owner: Rep, Size: 64 << 10})
		if err != nil {
			t.Fatal(err)
		}
		if err := env.Settle(ctx); err != nil {
			t.Fatal(err)
		}
		mark := len(env.Mail.Messages())

		wait := rand.N(renewal)
		t.Logf("round %d: restart %s after settling", round, wait)
		time.Sleep(wait)
		dev.RestartFor(time.Second)
		restarted := time.Now()
		for !dev.Listening() {
			time.Sleep(5 * time.Millisecond)
		}
		if err := env.Publish(ctx, Rep, app.ID, "Review"); err != nil {
			t.Fatal(err)
		}
		t.Logf("round %d: published %s after the restart; %d subscriptions live then", round, time.Since(restarted), len(dev.Subscriptions()))

		// Subscribed again, one set, the one the daemon records.
		oneSet := func() bool {
			st, err := env.Status(ctx)
			if err != nil {
				return false
			}
			var live []string
			for _, s := range dev.Subscriptions() {
				if !strings.HasPrefix(s.URL, env.Callback+"/callback/dev/") {
					t.Errorf("a subscription to %s", s.URL)
				}
				live = append(live, s.Handle)
			}
			recorded := slices.Clone(st.Sites[0].Subscriptions)
			slices.Sort(live)
			slices.Sort(recorded)
			return len(live) == 2 && slices.Equal(live, recorded)
		}
		for !oneSet() {
			if time.Since(restarted) > renewal+2*time.Second {
				t.Fatalf("round %d: %d subscriptions %s after the restart, want one set of 2", round, len(dev.Subscriptions()), time.Since(restarted))
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Logf("round %d: subscribed again %s after the restart", round, time.Since(restarted))

		want := fmt.Sprintf("'%s' published to: 'Review'", name)
		for len(env.MailsTo(mark, ManagerEmail)) == 0 {
			if time.Since(restarted) > renewal+10*time.Second {
				t.Fatalf("round %d: no alert for the publish made after the restart", round)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err := env.Settle(ctx); err != nil {
			t.Fatal(err)
		}
		mails := env.MailsTo(mark, ManagerEmail)
		if len(mails) != 1 || mails[0].Subject != want {
			var subjects []string
			for _, m := range mails {
				subjects = append(subjects, m.Subject)
			}
			t.Errorf("round %d: alerts %q, want one %q", round, subjects, want)
		}
		if n := len(dev.Subscriptions()); n != 2 {
			t.Errorf("round %d: %d subscriptions at rest, want 2", round, n)
		}
	}
}
