package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/qs-promoter/qs-promoter/daemon"
	"github.com/qs-promoter/qs-promoter/qrs/qrssim"
)

// RunOptions configures Run.
type RunOptions struct {
	Out  io.Writer
	Live bool   // Out is a terminal: the progress line is rewritten in place
	Keep bool   // leave everything running until ctx ends
	Dir  string // working folder; "": a temporary one (kept while running)
}

// Seeds returns the demo's sites: DefaultSeed, except that "Nightly KPIs"
// on dev starts without promotion properties (the demo sets them) and
// "Sales Pipeline" is larger, so that its promotion shows progress.
func Seeds() map[string]*qrssim.Seed {
	out := map[string]*qrssim.Seed{}
	for _, alias := range Sites {
		out[alias] = qrssim.DefaultSeed(alias)
	}
	for i := range out["dev"].Apps {
		a := &out["dev"].Apps[i]
		switch a.Name {
		case "Nightly KPIs":
			a.Properties = nil
		case "Sales Pipeline":
			a.Size = 48 << 20
		}
	}
	return out
}

// Run is `qs-promoter demo`: it starts the environment, plays Script,
// narrating every step, and returns an error naming every failed check.
func Run(ctx context.Context, ro RunOptions) error {
	out := ro.Out
	if out == nil {
		out = io.Discard
	}
	began := time.Now()
	p := &Player{Out: out, Live: ro.Live}
	fmt.Fprintln(out, "qs-promoter demo: three simulated Qlik Sense sites (dev, test, prod), an SMTP server, an S3 bucket")
	fmt.Fprintln(out, "and the daemon with the shipped policies, all in this process. dev is watched; test and prod are targets.")
	env, err := Start(ctx, Options{Dir: ro.Dir, Seeds: Seeds(), Progress: p.Progress})
	if err != nil {
		return fmt.Errorf("starting the demo: %w", err)
	}
	defer env.Close()
	p.Env = env
	// Transfers are capped so that the progress of a promotion is visible.
	for _, alias := range promotionTargets {
		env.Sim.Site(alias).SetFaults(qrssim.Faults{BytesPerSecond: 48 << 20})
	}
	fmt.Fprintf(out, "Ready in %s: daemon at %s, subscribed to dev; policies in %s\n",
		time.Since(began).Round(time.Millisecond), env.Callback, filepath.Join(env.Dir, "policies"))

	var failed []string
	for i, act := range Script() {
		failed = append(failed, p.Play(ctx, i+1, act)...)
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	mails := env.Mail.Messages()
	fmt.Fprintf(out, "\nE-mails sent (%d):\n", len(mails))
	for _, m := range mails {
		fmt.Fprintf(out, "   to %-28s %s\n", strings.Join(m.To, ", "), m.Subject)
	}
	if len(failed) > 0 {
		fmt.Fprintf(out, "\nFAIL: %d of %d checks failed (%s)\n", len(failed), len(failed)+p.Checks(), time.Since(began).Round(time.Millisecond))
		return errors.New("demo: " + strings.Join(failed, "; "))
	}
	fmt.Fprintf(out, "\nPASS: every outcome as expected, %d checks (%s)\n", p.Checks(), time.Since(began).Round(time.Millisecond))
	if ro.Keep {
		env.Sim.Site("test").SetFaults(qrssim.Faults{})
		env.Sim.Site("prod").SetFaults(qrssim.Faults{})
		lookAround(out, env)
		p.follow(ctx)
		fmt.Fprintln(out, "\nstopping")
	}
	return nil
}

// lookAround prints how to explore the running demo.
func lookAround(out io.Writer, env *Env) {
	events, _ := filepath.Glob(filepath.Join(env.Dir, "state", "events", "*", "*.json"))
	event := "<a file in " + filepath.Join(env.Dir, "state", "events") + ">"
	if len(events) > 0 {
		event = events[len(events)-1]
	}
	dev := env.Sim.Site("dev")
	self, err := os.Executable()
	if err != nil || strings.Contains(self, "go-build") {
		self = "go run ./cmd/qs-promoter"
	}
	fmt.Fprintf(out, `
Everything keeps running until Ctrl-C. Look around:
  console         %[12]s   (log in as %[13]s, password %[14]s)
  status, reload  curl -s -c jar -d username=%[13]s -d password=%[14]s %[12]s/login
                  curl -s -b jar %[12]s/status ; curl -s -b jar -X POST %[12]s/-/reload
  metrics         curl -s -b jar %[12]s/metrics | grep ^qsp_
  callbacks       %[1]s/callback/dev/… (QRS posts changes here; %[1]s/healthz answers)
  audit log       tail -f %[2]s
  daemon log      tail -f %[3]s
  configuration   %[4]s
  QRS of dev      curl -s --cert %[5]s/client.pem --key %[5]s/client_key.pem --cacert %[5]s/root.pem \
                    -H 'X-Qlik-Xrfkey: 0123456789abcdef' -H 'X-Qlik-User: UserDirectory=INTERNAL;UserId=sa_api' \
                    'https://localhost:%[6]d/qrs/app/full?xrfkey=0123456789abcdef'
  edit a policy   $EDITOR %[7]s
                  (saved: the daemon reloads it within a second; a broken edit is refused, see the status and daemon log)
  dry-run         %[8]s dry-run --config %[4]s --event %[9]s
  dry-run live    %[8]s dry-run --live --config %[4]s --site dev --app %[11]s --kind reloaded
  check, test     %[8]s check --config %[4]s ; %[8]s test --config %[4]s %[10]s
Changes made on dev from now on (with curl, or by editing the policies) are narrated below.
`, env.Callback, filepath.Join(env.Dir, "state", "audit", "audit.log"), filepath.Join(env.Dir, "daemon.log"), env.ConfigPath,
		dev.CertDir(), dev.Port(), filepath.Join(env.Dir, "policies", "30-approval.yaml"), self, event, filepath.Join(env.Dir, "policies"),
		env.AppID("Nightly KPIs"), env.Console, env.ConsoleUser, env.ConsolePassword)
}

// follow narrates every evaluation from now until ctx ends.
func (p *Player) follow(ctx context.Context) {
	next := p.Env.Mark()
	for {
		e := p.Env
		e.mu.Lock()
		ch := e.changed
		e.mu.Unlock()
		var reports []daemon.ExecutionReport
		reports, next = e.Reports(next)
		for _, r := range reports {
			if r.Outcome != daemon.OutcomeSkipped {
				p.printf("\n")
				p.Narrate(r)
			}
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return
		}
	}
}
