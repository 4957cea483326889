package demo

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/qs-promoter/qs-promoter/daemon"
	"github.com/qs-promoter/qs-promoter/qrs"
	"github.com/qs-promoter/qs-promoter/qrs/qrssim"
)

// The end-to-end scenarios of seed-behaviour.md, each through the daemon,
// the shipped policies, the simulated sites over TLS, SMTP and S3.

// scenarioSeeds are the demo's sites plus published apps for the tests.
// Every app is small: the scenarios check what moves where, not how fast
// (the demo shows progress on a large one).
func scenarioSeeds() map[string]*qrssim.Seed {
	seeds := Seeds()
	for i := range seeds["dev"].Apps {
		seeds["dev"].Apps[i].Size = min(seeds["dev"].Apps[i].Size, 64<<10)
	}
	for _, name := range []string{"App A", "App B", "App C", "App D"} {
		seeds["dev"].Apps = append(seeds["dev"].Apps, qrssim.AppSeed{Name: name, Owner: Rep, Stream: "Review", Size: 64 << 10})
	}
	return seeds
}

// startScenario starts an environment; the narration is logged if the test fails.
func startScenario(t *testing.T, vars map[string]any) (*Env, *Player) {
	t.Helper()
	t.Parallel() // most of a scenario is waiting for the daemon
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var narration bytes.Buffer
	p := &Player{Out: &narration, ActTimeout: 15 * time.Second}
	env, err := Start(ctx, Options{Dir: t.TempDir(), Seeds: scenarioSeeds(), Vars: vars, Progress: p.Progress, CoalesceWindow: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	p.Env = env
	t.Cleanup(func() {
		if err := env.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		if t.Failed() {
			t.Logf("narration:\n%s", narration.String())
		}
	})
	return env, p
}

// play plays the acts in order, failing the test with every problem.
func play(t *testing.T, p *Player, acts ...Act) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i, a := range acts {
		for _, problem := range p.Play(ctx, i+1, a) {
			t.Error(problem)
		}
	}
}

func setProps(app string, props map[string][]string) func(context.Context, *Env) (string, error) {
	return func(ctx context.Context, e *Env) (string, error) {
		id, err := appByName(e, app)
		if err != nil {
			return "", err
		}
		return id, e.SetProperties(ctx, Manager, id, props)
	}
}

// noMail checks that the act sent no e-mail.
func noMail(c *Check) {
	c.That(len(c.Env.Mail.Messages()) == c.MailMark, "%d e-mails sent, want none", len(c.Env.Mail.Messages())-c.MailMark)
}

// stillPublished checks that the app is still published on dev.
func stillPublished(c *Check) {
	a, ok := c.Env.Sim.Site("dev").App(c.AppID)
	c.That(ok && a.Published, "dev: app %s is no longer published", short(c.AppID))
}

// targetsSnapshot records the apps of test and prod (content and
// description), for targetsUntouched.
func targetsSnapshot(e *Env) map[string]string {
	out := map[string]string{}
	for _, site := range promotionTargets {
		for _, a := range e.Sim.Site(site).Apps() {
			out[site+"/"+a.ID] = e.ContentHash(site, a.ID) + "|" + a.Description
		}
	}
	return out
}

// targetsUntouched checks that an act changed no app of test and prod.
func targetsUntouched(c *Check) {
	now := targetsSnapshot(c.Env)
	c.That(fmt.Sprint(now) == fmt.Sprint(c.Before), "the target sites changed")
}

func TestScenarioPublishAlert(t *testing.T) {
	_, p := startScenario(t, nil)
	play(t, p,
		publishForReview("Sales Pipeline"),
		Act{
			Title: "a stream without EmailAlertOnPublishTo: no alert",
			Do: func(ctx context.Context, e *Env) (string, error) {
				id, err := appByName(e, "Finance Scratchpad")
				if err != nil {
					return "", err
				}
				return id, e.Publish(ctx, Manager, id, "Everyone")
			},
			Check: noMail,
		})
}

func TestScenarioApproveOverwriteAndDuplicate(t *testing.T) {
	env, p := startScenario(t, nil)
	play(t, p, publishForReview("Sales Pipeline"))
	// Overwrite: a same-named app in Sales (replaced in place), none in
	// Everyone (published); two target sites; S3 version ID in descriptions.
	play(t, p, approveToTestAndProd("Sales Pipeline"))

	// Duplicate where one target stream (Review) is missing on the site.
	const app = "Nightly KPIs"
	var oldProd string
	if olds := env.AppIn("prod", app, "Sales"); len(olds) == 1 {
		oldProd = olds[0].ID
	}
	play(t, p, Act{
		Title: "approve with prod - Duplicate to Sales and Review (Review is missing on prod)",
		Before: func(e *Env) map[string]string {
			id := e.AppID(app)
			return map[string]string{"source": id, "content": e.ContentHash("dev", id), "old": e.ContentHash("prod", oldProd)}
		},
		Do: setProps(app, map[string][]string{
			"PromotionApproval": {"Approve"}, "PromoteToServer": {"prod - Duplicate"}, "PromoteToStream": {"Sales", "Review"},
		}),
		Expect: []string{"promote-approved"},
		Check: func(c *Check) {
			e := c.Env
			sales := e.AppIn("prod", app, "Sales")
			c.That(len(sales) == 2, "prod: %d apps named %q in Sales, want the old one and the duplicate", len(sales), app)
			for _, a := range sales {
				if a.ID == oldProd {
					c.That(e.ContentHash("prod", a.ID) == c.Before["old"], "prod: the existing app was changed")
				} else {
					c.That(e.ContentHash("prod", a.ID) == c.Before["content"], "prod: the duplicate does not hold the app's content")
				}
			}
			s, _ := c.Step("promote-approved/promote")
			nf := fmt.Sprint(s.Result.Values["streams_not_found"])
			c.That(strings.Contains(nf, "prod") && strings.Contains(nf, "Review"), "streams not found: %s, want Review on prod", nf)
			c.That(len(e.Apps("test", app)) == 1, "test changed: it is not a target")
			checkUnpublished(c, app)
			results := ""
			for _, m := range e.MailsTo(c.MailMark, RepEmail) {
				if strings.HasSuffix(m.Subject, "promotion results") {
					results = m.Text
				}
			}
			c.That(strings.Contains(results, "Review"), "the results e-mail does not name the stream not found:\n%s", results)
		},
	})

	// Versioning asked, but no target stream exists: nothing is published,
	// so nothing is versioned (the original versions only after a publish).
	play(t, p, Act{
		Title: "approve with versioning to a stream missing on the site: nothing published, nothing versioned",
		Before: func(e *Env) map[string]string {
			id := e.AppID("App A")
			return map[string]string{"source": id, "content": e.ContentHash("dev", id), "prod": fmt.Sprint(len(e.Sim.Site("prod").Apps()))}
		},
		Do: setProps("App A", map[string][]string{
			"PromotionApproval": {"Approve"}, "PromoteToServer": {"prod - Duplicate"}, "PromoteToStream": {"Nowhere"},
			"PromotionS3Versioning": {"True"},
		}),
		Expect: []string{"promote-approved"},
		Check: func(c *Check) {
			e := c.Env
			s, _ := c.Step("promote-approved/s3")
			c.That(s.Skipped, "the s3 step ran: %+v", s.Result)
			versions, _ := e.S3.Versions("PromotedToTest/App A-Template.qvf")
			c.That(len(versions) == 0, "S3 holds %d versions of App A", len(versions))
			c.That(fmt.Sprint(len(e.Sim.Site("prod").Apps())) == c.Before["prod"], "prod: apps were added or removed")
			checkUnpublished(c, "App A")
			results := ""
			for _, m := range e.MailsTo(c.MailMark, RepEmail) {
				if strings.HasSuffix(m.Subject, "promotion results") {
					results = m.Text
				}
			}
			c.That(strings.Contains(results, "Nowhere"), "the results e-mail does not name the stream not found:\n%s", results)
		},
	})
}

func TestScenarioUnpublishSwitches(t *testing.T) {
	t.Run("auto_unpublish", func(t *testing.T) {
		_, p := startScenario(t, nil)
		play(t, p, Act{
			Title: "deny: denial e-mail, unpublished back to the owner",
			Before: func(e *Env) map[string]string {
				id := e.AppID("App A")
				return map[string]string{"source": id, "content": e.ContentHash("dev", id)}
			},
			Do:     setProps("App A", map[string][]string{"PromotionApproval": {"Deny"}}),
			Expect: []string{"deny"},
			Check: func(c *Check) {
				checkUnpublished(c, "App A")
				c.That(len(c.Env.MailsTo(c.MailMark, RepEmail)) == 1, "no denial e-mail")
			},
		})
	})
	t.Run("per_app", func(t *testing.T) {
		_, p := startScenario(t, map[string]any{"auto_unpublish": false})
		approve := map[string][]string{"PromotionApproval": {"Approve"}, "PromoteToServer": {"test - Duplicate"}, "PromoteToStream": {"Everyone"}}
		withUnpublish := map[string][]string{"PromotionUnpublish": {"True"}}
		for k, v := range approve {
			withUnpublish[k] = v
		}
		sourceOf := func(app string) func(e *Env) map[string]string {
			return func(e *Env) map[string]string {
				id := e.AppID(app)
				return map[string]string{"source": id, "content": e.ContentHash("dev", id)}
			}
		}
		keptPublished := func(app string) func(c *Check) {
			return func(c *Check) {
				stillPublished(c)
				a, _ := c.Env.Sim.Site("dev").App(c.AppID)
				c.That(len(a.CustomProperties) == 0, "dev: the promotion properties were not removed: %v", a.CustomProperties)
			}
		}
		play(t, p,
			Act{Title: "approve without PromotionUnpublish: promoted, stays published, properties removed",
				Do: setProps("App A", approve), Expect: []string{"promote-approved"},
				Check: func(c *Check) {
					keptPublished("App A")(c)
					c.That(len(c.Env.AppIn("test", "App A", "Everyone")) == 1, "test: App A was not promoted")
				}},
			Act{Title: "a later change to App A (its description) promotes it no more",
				Before: targetsSnapshot,
				Do: func(ctx context.Context, e *Env) (string, error) {
					id, err := appByName(e, "App A")
					if err != nil {
						return "", err
					}
					c, err := e.Client("dev", Rep)
					if err != nil {
						return "", err
					}
					_, err = c.UpdateApp(ctx, id, func(a *qrs.App) error { a.Description = "Q3 figures"; return nil })
					return id, err
				},
				Check: func(c *Check) { noMail(c); stillPublished(c); targetsUntouched(c) }},
			Act{Title: "approve with PromotionUnpublish=True: promoted and unpublished",
				Before: sourceOf("App B"), Do: setProps("App B", withUnpublish), Expect: []string{"promote-approved"},
				Check: func(c *Check) {
					checkUnpublished(c, "App B")
					c.That(len(c.Env.AppIn("test", "App B", "Everyone")) == 1, "test: App B was not promoted")
				}},
			Act{Title: "deny without PromotionUnpublish: stays published, properties removed",
				Do: setProps("App C", map[string][]string{"PromotionApproval": {"Deny"}}), Expect: []string{"deny"},
				Check: keptPublished("App C")},
			Act{Title: "deny with PromotionUnpublish=True: unpublished",
				Before: sourceOf("App D"), Do: setProps("App D", map[string][]string{"PromotionApproval": {"Deny"}, "PromotionUnpublish": {"True"}}),
				Expect: []string{"deny"},
				Check:  func(c *Check) { checkUnpublished(c, "App D") }},
		)
	})
}

func TestScenarioNothingHappens(t *testing.T) {
	_, p := startScenario(t, nil)
	play(t, p,
		Act{Title: "approval text that is neither approve nor deny",
			Before: targetsSnapshot,
			Do: setProps("App A", map[string][]string{
				"PromotionApproval": {"Maybe later"}, "PromoteToServer": {"test - Overwrite"}, "PromoteToStream": {"Sales"},
			}),
			Check: func(c *Check) { noMail(c); stillPublished(c); targetsUntouched(c) }},
		Act{Title: "an approved app that is not published",
			Before: targetsSnapshot,
			Do: setProps("Finance Scratchpad", map[string][]string{
				"PromotionApproval": {"Approve"}, "PromoteToServer": {"test - Overwrite"}, "PromoteToStream": {"Sales"},
			}),
			Check: func(c *Check) {
				noMail(c)
				targetsUntouched(c)
				c.That(c.Env.AppID("Finance Scratchpad") == c.AppID, "dev: the unpublished app changed")
			}},
	)
}

func TestScenarioPromoteOnReload(t *testing.T) {
	_, p := startScenario(t, nil)
	const app = "Nightly KPIs"
	play(t, p,
		setPromoteOnReload(app),
		Act{Title: "an approval while set to promote on reload does nothing",
			Before: targetsSnapshot,
			Do:     setProps(app, map[string][]string{"PromotionApproval": {"Approve"}}),
			Check:  func(c *Check) { noMail(c); stillPublished(c); targetsUntouched(c) }},
		reloadPromotes(app),
		Act{Title: "PromoteOnReload removed: the tag goes",
			Do:     setProps(app, map[string][]string{"PromoteOnReload": nil, "PromotionApproval": nil}),
			Expect: []string{"untag-promote-on-reload"},
			Check: func(c *Check) {
				a, _ := c.Env.Sim.Site("dev").App(c.AppID)
				c.That(!a.HasTag("PromoteOnReload"), "dev: the app is still tagged")
				stillPublished(c)
				noMail(c)
			}},
	)
}

func TestScenarioOneTargetSiteFails(t *testing.T) {
	env, p := startScenario(t, nil)
	// Every upload to prod is refused: a permanent failure (a 500 would be
	// transient, and retried).
	env.Sim.Site("prod").SetFaults(qrssim.Faults{ErrorPaths: []string{"/qrs/app/upload"}, ErrorStatus: 403})
	const app = "App A"
	play(t, p, Act{
		Title: "approve to test and prod while prod refuses uploads",
		Before: func(e *Env) map[string]string {
			id := e.AppID(app)
			return map[string]string{"source": id, "content": e.ContentHash("dev", id), "prod": fmt.Sprint(len(e.Sim.Site("prod").Apps()))}
		},
		Do: setProps(app, map[string][]string{
			"PromotionApproval": {"Approve"}, "PromoteToServer": {"test - Overwrite", "prod - Overwrite"}, "PromoteToStream": {"Sales"},
		}),
		Expect:  []string{"promote-approved"},
		Outcome: daemon.OutcomeFailed,
		Check: func(c *Check) {
			e := c.Env
			promoted := e.AppIn("test", app, "Sales")
			c.That(len(promoted) == 1 && e.ContentHash("test", promoted[0].ID) == c.Before["content"], "test: the app was not promoted")
			c.That(fmt.Sprint(len(e.Sim.Site("prod").Apps())) == c.Before["prod"], "prod: apps were added or removed")
			stillPublished(c)
			src, _ := e.Sim.Site("dev").App(c.AppID)
			c.That(len(src.CustomProperties) == 4, "dev: the promotion properties changed: %v", src.CustomProperties)
			un, _ := c.Step("promote-approved/unpublish")
			c.That(un.NotRun, "the unpublish step was not held back: %+v", un.Result)
			var results string
			for _, m := range e.MailsTo(c.MailMark, RepEmail) {
				if strings.HasSuffix(m.Subject, "promotion results") {
					results = m.Text
				}
			}
			c.That(strings.Contains(results, "prod") && strings.Contains(strings.ToLower(results), "fail"),
				"the results e-mail does not report the failure on prod:\n%s", results)
			c.That(len(promoted) == 1 && strings.Contains(results, promoted[0].ID), "the results e-mail does not list the app promoted on test")
			// A 403 is permanent: no retry, the admin is told at once.
			c.That(c.Report.Attempt == 1, "attempt %d: a permanent failure was retried", c.Report.Attempt)
			checkAdminTold(c, app, "promote-approved/promote", "site prod", "403 Forbidden")
		},
	})

	// Everything promoted, but the owner's copy cannot be made (security
	// rules): the published app is kept, and the owner still gets the results.
	env.Sim.Site("prod").SetFaults(qrssim.Faults{})
	env.Sim.Site("dev").SetFaults(qrssim.Faults{ErrorPaths: []string{"/qrs/app/*/copy"}, ErrorStatus: 403})
	play(t, p, Act{
		Title:   "approve App B while dev refuses copies: promoted, kept published, results e-mail sent",
		Do:      setProps("App B", map[string][]string{"PromotionApproval": {"Approve"}, "PromoteToServer": {"test - Duplicate"}, "PromoteToStream": {"Sales"}}),
		Expect:  []string{"promote-approved"},
		Outcome: daemon.OutcomeFailed,
		Check: func(c *Check) {
			e := c.Env
			c.That(len(e.AppIn("test", "App B", "Sales")) == 1, "test: App B was not promoted")
			stillPublished(c)
			c.That(len(e.Apps("dev", "App B")) == 1, "dev: a copy of App B was left behind")
			un, _ := c.Step("promote-approved/unpublish")
			c.That(un.Err != "" && !un.NotRun, "the unpublish step did not fail: %+v", un.Result)
			subjects := subjectsOf(e.MailsTo(c.MailMark, RepEmail))
			c.That(slices.Contains(subjects, "'App B' promotion results"), "no results e-mail to the owner (got %q)", subjects)
			checkAdminTold(c, "App B", "promote-approved/unpublish", "403 Forbidden")
		},
	})
}

// checkAdminTold checks the one e-mail to smtp.admin about the act's
// failed execution: the app, where it failed, the error and how to retry.
func checkAdminTold(c *Check, app, where string, errParts ...string) {
	var mails []Mail
	deadline := time.Now().Add(5 * time.Second) // sent just after the execution's report
	for len(mails) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		mails = c.Env.MailsTo(c.MailMark, AdminEmail)
	}
	c.That(len(mails) == 1, "the admin got %d e-mails, want 1", len(mails))
	for _, m := range mails {
		want := fmt.Sprintf("qs-promoter: '%s' failed at %s", app, where)
		c.That(m.Subject == want, "admin e-mail subject %q, want %q", m.Subject, want)
		for _, p := range append(errParts, "qs-promoter retry --config "+c.Env.ConfigPath+" "+c.Report.ExecutionID) {
			c.That(strings.Contains(m.Text, p), "the admin e-mail lacks %q:\n%s", p, m.Text)
		}
	}
}
