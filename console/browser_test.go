package console_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/qs-promoter/qs-promoter/demo"
)

// The console in a real browser (headless Chromium) against the daemon as
// serve runs it, on the demo's simulated sites: log in, see the three
// sites, approve an app through the simulator and watch its execution
// appear with its steps, open it, dry-run it from the page, break a policy
// file and see the error on the Policies page, reload after the fix.
//
// Without Chromium the test is skipped with a loud message; with
// QSP_REQUIRE_BROWSER=1 (set by .ci/run) it fails instead. QSP_CHROMIUM
// names the browser when it is not chromium on PATH. QSP_SCREENSHOTS=DIR
// saves the screenshots of the docs (docs/console-*.png) there.
func TestConsoleInABrowser(t *testing.T) {
	browser := findChromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	env, err := demo.Start(ctx, demo.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser), chromedp.WindowSize(1280, 1000),
		chromedp.Flag("headless", true), chromedp.DisableGPU)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses to run as root with its sandbox
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()

	// Every console error (a CSP violation among them) and uncaught
	// exception the pages cause.
	var mu sync.Mutex
	var problems []string
	note := func(level log.EntryLevel, text string) {
		if level == log.EntryLevelError {
			mu.Lock()
			problems = append(problems, text)
			mu.Unlock()
		}
	}
	if err := chromedp.Listen(bctx, func(ev any) {
		switch ev := ev.(type) {
		case *log.EventEntryAdded:
			note(ev.Entry.Level, ev.Entry.Text+" "+ev.Entry.URL)
		case log.EventEntryAdded:
			note(ev.Entry.Level, ev.Entry.Text+" "+ev.Entry.URL)
		case *runtime.EventExceptionThrown:
			note(log.EntryLevelError, ev.ExceptionDetails.Text)
		case runtime.EventExceptionThrown:
			note(log.EntryLevelError, ev.ExceptionDetails.Text)
		}
	}); err != nil {
		t.Fatal(err)
	}
	run := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	poll := func(js string) chromedp.Action[chromedp.Void] {
		return chromedp.Poll[chromedp.Void](js, chromedp.WithPollingTimeout(30*time.Second), chromedp.WithPollingInterval(200*time.Millisecond))
	}
	shot := func(name string) {
		dir := os.Getenv("QSP_SCREENSHOTS")
		if dir == "" {
			return
		}
		png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("read %s: %v", sel, err)
		}
		return s
	}

	// Log in: every page sends to the login first.
	run("log in",
		chromedp.Navigate(env.Console+"/executions"),
		chromedp.WaitVisible(chromedp.CSS(`input[name=username]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=username]`), env.ConsoleUser),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), env.ConsolePassword),
		chromedp.Submit(chromedp.CSS(`input[name=password]`)),
		chromedp.WaitVisible(chromedp.CSS(`table.executions`)),
		chromedp.Navigate(env.Console+"/"),
		chromedp.WaitVisible(chromedp.CSS(`table.sites`)),
	)
	sites := text(`table.sites`)
	for _, s := range []string{"dev", "test", "prod"} {
		if !strings.Contains(sites, s) {
			t.Errorf("the overview's sites lack %s:\n%s", s, sites)
		}
	}
	// Times are rewritten in the browser's zone by the console's own script.
	run("local times", poll(`document.querySelectorAll('time[data-local]').length > 0`))

	// Sales Dashboard, published to the review stream, waits for approval.
	id := env.AppID("Sales Dashboard")
	run("approvals", chromedp.Navigate(env.Console+"/approvals"),
		poll(`document.body.innerText.includes('Sales Dashboard')`))
	shot("console-approvals.png")

	// Approve it through the simulator, as the manager would in the QMC, and
	// watch the executions page (htmx keeps its first page fresh).
	run("executions", chromedp.Navigate(env.Console+"/executions"), chromedp.WaitVisible(chromedp.CSS(`tbody#rows`)))
	if err := env.SetProperties(ctx, demo.Manager, id, map[string][]string{
		"PromotionApproval": {"Approve"}, "PromoteToServer": {"test - Overwrite"}, "PromoteToStream": {"Sales"},
	}); err != nil {
		t.Fatal(err)
	}
	run("the execution appears", poll(`[...document.querySelectorAll('tbody#rows tr')].some(r => r.innerText.includes('promote-approved') && r.innerText.includes('acted'))`))
	run("open it", chromedp.Click(chromedp.Search(`//tbody[@id="rows"]//tr[contains(., "promote-approved")]//td[2]/a`)),
		chromedp.WaitVisible(chromedp.CSS(`ol.steps`)))
	steps := text(`ol.steps`)
	for _, w := range []string{"promote-approved / promote", "(promote)", "done", "promoted"} {
		if !strings.Contains(steps, w) {
			t.Errorf("the execution's steps lack %q:\n%s", w, steps)
		}
	}
	shot("console-execution.png")

	// Dry-run its recorded event against the policies in use.
	run("dry-run", chromedp.Click(chromedp.Search(`//button[contains(., "Dry-run it against")]`)),
		chromedp.WaitVisible(chromedp.CSS(`section.report`)))
	if report := text(`section.report`); !strings.Contains(report, "+ promote-approved: MATCH") || !strings.Contains(report, "would promote") {
		t.Errorf("the dry-run report:\n%s", report)
	}

	// A broken policy file: the daemon refuses it (the old set stays) and
	// the Policies page shows the error at its position.
	bad := filepath.Join(env.Dir, "policies", "99-broken.yaml")
	if err := os.WriteFile(bad, []byte("policies:\n  - name: broken\n    on: [updated]\n    when: app.nmae == 'x'\n    steps: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); env.Daemon.Status().Policies.LastError == ""; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the daemon did not try the broken file within 20s")
		}
	}
	run("the error shows", chromedp.Navigate(env.Console+"/policies"), poll(`document.body.innerText.includes('99-broken.yaml:4')`))
	if errs := text(`.reload-errors`); !strings.Contains(errs, "99-broken.yaml:4") {
		t.Errorf("the reload errors: %s", errs)
	}
	if err := os.Remove(bad); err != nil {
		t.Fatal(err)
	}
	run("reload after the fix", chromedp.Click(chromedp.Search(`//button[contains(., "Reload the policies")]`)),
		chromedp.WaitVisible(chromedp.CSS(`p.notice`)))
	if n := text(`p.notice`); !strings.HasPrefix(n, "Reloaded: revision") {
		t.Errorf("after the fix: %q", n)
	}

	run("overview", chromedp.Navigate(env.Console+"/"), chromedp.WaitVisible(chromedp.CSS(`svg.chart`)))
	shot("console-overview.png")

	mu.Lock()
	defer mu.Unlock()
	for _, p := range problems {
		t.Errorf("the browser reported: %s", p)
	}
}

// findChromium returns the browser to drive, or skips (fails under
// QSP_REQUIRE_BROWSER=1) when there is none.
func findChromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("QSP_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("QSP_REQUIRE_BROWSER") == "1" {
		t.Fatal("Chromium is required (QSP_REQUIRE_BROWSER=1) but neither chromium nor QSP_CHROMIUM was found")
	}
	t.Skip("\n\n*** SKIPPED: no Chromium for the console's browser test. Install Debian's chromium package (apt-get install -y chromium) to run it.\n\n")
	return ""
}
