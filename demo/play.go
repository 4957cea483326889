package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/qs-promoter/qs-promoter/daemon"
	"github.com/qs-promoter/qs-promoter/engine"
)

// Act is one step of a scenario: what a person does on dev, which policies
// must match the change, and what must be true once the daemon has acted.
type Act struct {
	Title string
	// Do makes the change and returns the ID of the app it changed.
	Do func(ctx context.Context, e *Env) (appID string, err error)
	// Expect names the policies that must match, in evaluation order;
	// empty: none may.
	Expect []string
	// Outcome is the execution outcome wanted; "": acted, or no_match when
	// Expect is empty.
	Outcome string
	// Before, if set, records what Check compares against (content hashes…).
	Before func(e *Env) map[string]string
	// Check inspects the outcome.
	Check func(c *Check)
}

// Check collects the outcome checks of one act.
type Check struct {
	Env      *Env
	AppID    string                 // the app the act changed
	Report   daemon.ExecutionReport // the daemon's evaluation of the change
	MailMark int                    // index of the first e-mail sent since the act began
	Before   map[string]string      // what the act's Before recorded
	problems []string
	passed   int
}

// That records one check: ok, or the problem described by format.
func (c *Check) That(ok bool, format string, args ...any) {
	if ok {
		c.passed++
		return
	}
	c.problems = append(c.problems, fmt.Sprintf(format, args...))
}

// Problems returns the failed checks.
func (c *Check) Problems() []string { return c.problems }

// Step returns the report of a step of the evaluation ("policy/step").
func (c *Check) Step(key string) (engine.StepReport, bool) {
	if c.Report.Report == nil {
		return engine.StepReport{}, false
	}
	for _, p := range c.Report.Report.Policies {
		for _, s := range p.Steps {
			if p.Name+"/"+s.ID == key {
				return s, true
			}
		}
	}
	return engine.StepReport{}, false
}

// Matched lists the policies that matched in an execution report.
func Matched(r daemon.ExecutionReport) []string {
	var out []string
	if r.Report != nil {
		for _, p := range r.Report.Policies {
			if p.Matched {
				out = append(out, p.Name)
			}
		}
	}
	return out
}

// Player plays acts against an environment and narrates them.
type Player struct {
	Env  *Env
	Out  io.Writer // nil: nothing is printed
	Live bool      // the terminal can rewrite the progress line in place
	// ActTimeout bounds the wait for the daemon's evaluation of one act.
	ActTimeout time.Duration

	mu           sync.Mutex
	progressShow bool // the live progress line is on screen
	working      bool // the current act's progress has begun
	checks       int
}

// Progress is the Options.Progress of an environment narrated by p.
func (p *Player) Progress(step, detail string) {
	if p.Out == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.working {
		// Progress comes while the daemon acts; its report follows once it is done.
		p.working = true
		fmt.Fprintf(p.Out, "   the daemon is acting on it:\n")
	}
	if p.Live {
		fmt.Fprintf(p.Out, "\r\033[K      ⋯ %s", detail)
		p.progressShow = true
		return
	}
	fmt.Fprintf(p.Out, "      ⋯ %s\n", detail)
}

func (p *Player) printf(format string, args ...any) {
	if p.Out == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.progressShow {
		fmt.Fprint(p.Out, "\r\033[K")
		p.progressShow = false
	}
	fmt.Fprintf(p.Out, format, args...)
}

// Checks returns how many checks passed so far.
func (p *Player) Checks() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.checks
}

// Play runs one act: does it, waits for the daemon's evaluation, narrates
// it and runs the checks. It returns the failed checks.
func (p *Player) Play(ctx context.Context, n int, a Act) []string {
	p.printf("\n%d. %s\n", n, a.Title)
	timeout := p.ActTimeout
	if timeout == 0 {
		timeout = 20 * time.Second
	}
	sctx, cancel := context.WithTimeout(ctx, timeout)
	err := p.Env.Settle(sctx)
	cancel()
	if err != nil {
		p.printf("   ✗ %v\n", err)
		return []string{fmt.Sprintf("act %d (%s): %v", n, a.Title, err)}
	}
	var before map[string]string
	if a.Before != nil {
		before = a.Before(p.Env)
	}
	mark, mails := p.Env.Mark(), len(p.Env.Mail.Messages())
	p.mu.Lock()
	p.working = false
	p.mu.Unlock()
	appID, err := a.Do(ctx, p.Env)
	if err != nil {
		p.printf("   ✗ %v\n", err)
		return []string{fmt.Sprintf("act %d (%s): %v", n, a.Title, err)}
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	rep, err := p.Env.WaitExecution(wctx, mark, appID)
	cancel()
	if err != nil {
		p.printf("   ✗ the daemon did not evaluate the change: %v\n", err)
		return []string{fmt.Sprintf("act %d (%s): %v", n, a.Title, err)}
	}
	p.Narrate(rep)
	c := &Check{Env: p.Env, AppID: appID, Report: rep, MailMark: mails, Before: before}
	matched := Matched(rep)
	c.That(slices.Equal(matched, a.Expect), "policies matched: got [%s], want [%s]", strings.Join(matched, ", "), strings.Join(a.Expect, ", "))
	want := a.Outcome
	if want == "" {
		want = daemon.OutcomeActed
		if len(a.Expect) == 0 {
			want = daemon.OutcomeNoMatch
		}
	}
	c.That(rep.Outcome == want, "execution outcome %s, want %s %s", rep.Outcome, want, rep.Reason)
	if a.Check != nil {
		a.Check(c)
	}
	p.mu.Lock()
	p.checks += c.passed
	p.mu.Unlock()
	if len(c.problems) == 0 {
		p.printf("   ✔ %d checks passed\n", c.passed)
		return nil
	}
	var out []string
	for _, pr := range c.problems {
		p.printf("   ✗ %s\n", pr)
		out = append(out, fmt.Sprintf("act %d (%s): %s", n, a.Title, pr))
	}
	return out
}

// Narrate prints one execution: the event, the policies that matched and
// why, and what every step did.
func (p *Player) Narrate(r daemon.ExecutionReport) {
	if p.Out == nil {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "   event   %s on %s · app %s %q", strings.Join(r.Kinds, ", "), r.Site, short(r.AppID), r.AppName)
	if changed := changedProperties(r.EventFile); len(changed) > 0 {
		fmt.Fprintf(&b, " · changed: %s", strings.Join(changed, ", "))
	}
	b.WriteString("\n")
	if r.Report == nil {
		fmt.Fprintf(&b, "   %s: %s\n", r.Outcome, r.Reason)
		p.printf("%s", b.String())
		return
	}
	any := false
	for _, pol := range r.Report.Policies {
		if !pol.Matched {
			continue
		}
		any = true
		fmt.Fprintf(&b, "   policy  %s matched: %s\n", pol.Name, pol.Reason)
		for _, s := range pol.Steps {
			mark := "✓"
			summary := s.Result.Summary
			switch {
			case s.NotRun:
				mark, summary = "·", s.Err
			case s.Skipped:
				mark = "–"
				if cond, ok := strings.CutPrefix(summary, "if is false: "); ok {
					summary = "skipped: its condition is false (" + cond + ")"
				}
			case s.Err != "":
				mark = "✗"
			}
			fmt.Fprintf(&b, "      %s %-18s %s\n", mark, s.ID, summary)
			if !s.Skipped && !s.NotRun {
				for _, d := range s.Result.Details {
					fmt.Fprintf(&b, "          %s\n", d)
				}
			}
		}
	}
	if !any {
		b.WriteString("   no policy matched:\n")
		for _, pol := range r.Report.Policies {
			fmt.Fprintf(&b, "      %-24s %s\n", pol.Name, pol.Reason)
		}
	}
	fmt.Fprintf(&b, "   outcome %s in %s (execution %s)\n", r.Outcome, r.Duration.Round(time.Millisecond), r.ExecutionID)
	p.printf("%s", b.String())
}

// changedProperties reads the changed properties of a recorded event.
func changedProperties(path string) []string {
	if path == "" {
		return nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var ev engine.Event
	if json.Unmarshal(b, &ev) != nil {
		return nil
	}
	var out []string
	for _, n := range ev.Notification {
		for _, c := range n.ChangedProperties {
			if c != "modifiedDate" && !slices.Contains(out, c) {
				out = append(out, c)
			}
		}
	}
	return out
}

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
