package demo

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/qs-promoter/qs-promoter/qrs"
)

// The demo's story, on the seeded sites: the original promoter's README
// workflow, played as the people in it would.

// Script returns the acts of `qs-promoter demo`.
func Script() []Act {
	return []Act{
		publishForReview("Sales Pipeline"),
		approveToTestAndProd("Sales Pipeline"),
		deny("Sales Dashboard"),
		setPromoteOnReload("Nightly KPIs"),
		reloadPromotes("Nightly KPIs"),
	}
}

// appByName is the Do helper for acts on a named dev app.
func appByName(e *Env, name string) (string, error) {
	id := e.AppID(name)
	if id == "" {
		return "", fmt.Errorf("no single app %q on dev", name)
	}
	return id, nil
}

func publishForReview(app string) Act {
	return Act{
		Title: fmt.Sprintf("Sam Rep (%s) publishes %q to the Review stream on dev", Rep, app),
		Do: func(ctx context.Context, e *Env) (string, error) {
			id, err := appByName(e, app)
			if err != nil {
				return "", err
			}
			return id, e.Publish(ctx, Rep, id, "Review")
		},
		Expect: []string{"alert-on-publish"},
		Check: func(c *Check) {
			mails := c.Env.MailsTo(c.MailMark, ManagerEmail)
			c.That(len(mails) == 1, "the reviewer %s got %d alerts, want 1", ManagerEmail, len(mails))
			for _, m := range mails {
				want := fmt.Sprintf("'%s' published to: 'Review'", app)
				c.That(m.Subject == want, "alert subject %q, want %q", m.Subject, want)
				c.That(strings.Contains(m.Text, "/sense/app/"+c.AppID), "the alert has no hub link to app %s", c.AppID)
			}
			c.That(len(c.Env.Mail.Messages()) == c.MailMark+1, "%d e-mails sent, want only the alert", len(c.Env.Mail.Messages())-c.MailMark)
		},
	}
}

// promotionTargets are where the manager sends the app.
var promotionTargets = []string{"test", "prod"}

func approveToTestAndProd(app string) Act {
	return Act{
		Title: fmt.Sprintf("Morgan Manager (%s) approves %q: overwrite on test and prod, streams Sales and Everyone, versioned in S3", Manager, app),
		Before: func(e *Env) map[string]string {
			out := map[string]string{}
			if id := e.AppID(app); id != "" {
				out["source"] = id
				out["content"] = e.ContentHash("dev", id)
			}
			for _, site := range promotionTargets {
				if old := e.AppIn(site, app, "Sales"); len(old) == 1 {
					out[site+"/Sales"] = old[0].ID
				}
			}
			return out
		},
		Do: func(ctx context.Context, e *Env) (string, error) {
			id, err := appByName(e, app)
			if err != nil {
				return "", err
			}
			return id, e.SetProperties(ctx, Manager, id, map[string][]string{
				"PromotionApproval":     {"Approve"},
				"PromoteToServer":       {"test - Overwrite", "prod - Overwrite"},
				"PromoteToStream":       {"Sales", "Everyone"},
				"PromotionS3Versioning": {"True"},
			})
		},
		Expect: []string{"promote-approved"},
		Check: func(c *Check) {
			e := c.Env
			versionID := checkVersioned(c, app)
			for _, site := range promotionTargets {
				sales := e.AppIn(site, app, "Sales")
				c.That(len(sales) == 1 && sales[0].ID == c.Before[site+"/Sales"],
					"%s: the app in Sales was not replaced in place (apps there: %s)", site, ids(sales))
				every := e.AppIn(site, app, "Everyone")
				c.That(len(every) == 1, "%s: %d apps named %q in Everyone, want 1 newly published", site, len(every), app)
				for _, a := range append(sales, every...) {
					c.That(e.ContentHash(site, a.ID) == c.Before["content"], "%s: app %s does not hold the approved app's content", site, short(a.ID))
					c.That(strings.HasPrefix(a.Description, "App promoted from node: 'qlik-dev.example.com' by: '"+Manager+"'"),
						"%s: app %s description %q", site, short(a.ID), a.Description)
					c.That(versionID != "" && strings.HasSuffix(a.Description, "S3 Version ID: "+versionID),
						"%s: app %s description lacks the S3 version ID %q", site, short(a.ID), versionID)
				}
			}
			checkUnpublished(c, app)
			mails := e.MailsTo(c.MailMark, RepEmail)
			subjects := subjectsOf(mails)
			c.That(len(mails) == 2, "the owner got %d e-mails %q, want the approval and the results", len(mails), subjects)
			c.That(slices.Contains(subjects, fmt.Sprintf("'%s' promotion approved by: '%s'", app, Manager)), "no approval e-mail to the owner (got %q)", subjects)
			c.That(slices.Contains(subjects, fmt.Sprintf("'%s' promotion results", app)), "no results e-mail to the owner (got %q)", subjects)
			for _, m := range mails {
				if strings.HasSuffix(m.Subject, "promotion results") {
					for _, site := range promotionTargets {
						for _, a := range append(e.AppIn(site, app, "Sales"), e.AppIn(site, app, "Everyone")...) {
							c.That(strings.Contains(m.Text, a.ID), "the results e-mail does not list app %s on %s", short(a.ID), site)
						}
					}
				}
			}
		},
	}
}

// checkVersioned checks the S3 template and returns its version ID.
func checkVersioned(c *Check, app string) string {
	s, ok := c.Step("promote-approved/s3")
	if !ok {
		s, ok = c.Step("promote-on-reload/s3")
	}
	c.That(ok && s.Err == "" && !s.Skipped, "the s3 step did not run: %+v", s.Result)
	if c.Env.S3 == nil {
		return ""
	}
	key := "PromotedToTest/" + app + "-Template.qvf"
	versions, err := c.Env.S3.Versions(key)
	c.That(err == nil && len(versions) >= 1, "S3 holds no version of %s (%v)", key, err)
	if len(versions) == 0 {
		return ""
	}
	latest := versions[0]
	for _, v := range versions {
		if v.Latest {
			latest = v
		}
	}
	got, _ := s.Result.Values["version_id"].(string)
	c.That(got == latest.VersionID, "the s3 step reports version %q, S3 holds %q", got, latest.VersionID)
	return latest.VersionID
}

// checkUnpublished checks that the published app is gone from dev and its
// owner holds an unpublished copy with the same content.
func checkUnpublished(c *Check, app string) {
	e := c.Env
	_, stillThere := e.Sim.Site("dev").App(c.Before["source"])
	c.That(!stillThere, "dev: the published app %s still exists", short(c.Before["source"]))
	var copies []qrs.App
	for _, a := range e.Apps("dev", app) {
		if !a.Published {
			copies = append(copies, a)
		}
	}
	c.That(len(copies) == 1, "dev: %d unpublished copies of %q, want 1", len(copies), app)
	for _, a := range copies {
		c.That(a.Owner.UserDirectory+`\`+a.Owner.UserID == Rep, "dev: the copy is owned by %s\\%s, want %s", a.Owner.UserDirectory, a.Owner.UserID, Rep)
		c.That(e.ContentHash("dev", a.ID) == c.Before["content"], "dev: the owner's copy does not hold the app's content")
		// Published again later, the copy must go through review again.
		c.That(len(a.CustomProperties) == 0, "dev: the owner's copy carries custom properties %v", a.CustomProperties)
	}
}

func deny(app string) Act {
	return Act{
		Title: fmt.Sprintf("Morgan Manager denies %q, which waits in the Review stream", app),
		Before: func(e *Env) map[string]string {
			id := e.AppID(app)
			return map[string]string{"source": id, "content": e.ContentHash("dev", id)}
		},
		Do: func(ctx context.Context, e *Env) (string, error) {
			id, err := appByName(e, app)
			if err != nil {
				return "", err
			}
			return id, e.SetProperties(ctx, Manager, id, map[string][]string{"PromotionApproval": {"Deny"}})
		},
		Expect: []string{"deny"},
		Check: func(c *Check) {
			checkUnpublished(c, app)
			mails := c.Env.MailsTo(c.MailMark, RepEmail)
			want := fmt.Sprintf("'%s' promotion denied by: '%s'", app, Manager)
			c.That(len(mails) == 1 && mails[0].Subject == want, "the owner got %q, want only %q", subjectsOf(mails), want)
			for _, site := range promotionTargets {
				c.That(len(c.Env.Apps(site, app)) == 0, "%s holds a copy of the denied app", site)
			}
		},
	}
}

func setPromoteOnReload(app string) Act {
	return Act{
		Title: fmt.Sprintf("Morgan Manager sets %q to promote to test (overwrite, stream Sales) on every reload", app),
		Before: func(e *Env) map[string]string {
			out := map[string]string{}
			if old := e.AppIn("test", app, "Sales"); len(old) == 1 {
				out["test"] = e.ContentHash("test", old[0].ID)
			}
			return out
		},
		Do: func(ctx context.Context, e *Env) (string, error) {
			id, err := appByName(e, app)
			if err != nil {
				return "", err
			}
			return id, e.SetProperties(ctx, Manager, id, map[string][]string{
				"PromoteOnReload": {"True"},
				"PromoteToServer": {"test - Overwrite"},
				"PromoteToStream": {"Sales"},
			})
		},
		Expect: []string{"tag-promote-on-reload"},
		Check: func(c *Check) {
			a, ok := c.Env.Sim.Site("dev").App(c.AppID)
			c.That(ok && a.HasTag("PromoteOnReload"), "dev: the app is not tagged PromoteOnReload")
			c.That(ok && a.Published, "dev: the app is no longer published")
			c.That(len(c.Env.Mail.Messages()) == c.MailMark, "%d e-mails sent, want none", len(c.Env.Mail.Messages())-c.MailMark)
			old := c.Env.AppIn("test", app, "Sales")
			c.That(len(old) == 1 && c.Env.ContentHash("test", old[0].ID) == c.Before["test"], "test: the app was promoted before any reload")
		},
	}
}

func reloadPromotes(app string) Act {
	return Act{
		Title: fmt.Sprintf("The scheduler (%s) reloads %q", Scheduler, app),
		Do: func(ctx context.Context, e *Env) (string, error) {
			id, err := appByName(e, app)
			if err != nil {
				return "", err
			}
			return id, e.Reload(ctx, Scheduler, id)
		},
		Expect: []string{"promote-on-reload"},
		Check: func(c *Check) {
			e := c.Env
			src, ok := e.Sim.Site("dev").App(c.AppID)
			c.That(ok && src.Published && src.HasTag("PromoteOnReload"), "dev: the app is no longer published and tagged")
			c.That(ok && len(src.PropertyValues("PromoteToServer")) == 1, "dev: the app lost its promotion properties")
			sales := e.AppIn("test", app, "Sales")
			c.That(len(sales) == 1, "test: %d apps named %q in Sales, want 1", len(sales), app)
			for _, a := range sales {
				c.That(e.ContentHash("test", a.ID) == e.ContentHash("dev", c.AppID), "test: the app in Sales does not hold the reloaded app's content")
				c.That(strings.Contains(a.Description, "App promoted from node: 'qlik-dev.example.com'"), "test: description %q", a.Description)
			}
			c.That(len(e.Apps("prod", app)) == 1, "prod changed: it is not a target")
			c.That(len(e.Mail.Messages()) == c.MailMark, "%d e-mails sent, want none", len(e.Mail.Messages())-c.MailMark)
		},
	}
}

func ids(apps []qrs.App) string {
	var out []string
	for _, a := range apps {
		out = append(out, short(a.ID))
	}
	return "[" + strings.Join(out, " ") + "]"
}

func subjectsOf(mails []Mail) []string {
	var out []string
	for _, m := range mails {
		out = append(out, m.Subject)
	}
	return out
}
