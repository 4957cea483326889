package actions

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/qs-promoter/qs-promoter/engine"
	"github.com/qs-promoter/qs-promoter/qrs"
)

// The per-site part of promote's Run: one upload per site, replaces,
// publishes and server-side copies, each recorded in the step's journal so
// that a retry resumes where the last attempt stopped.

// Journal keys, per target site: "<site>/helper" the uploaded app;
// "<site>/new/<stream id>" the app made to publish into a stream;
// "<site>/replaced/<app id>" a replace done; "<site>/stream/<stream id>"
// the stream's finished entries (JSON). A value "creating" or "uploading"
// is written before the call that creates, the app's id after it.

// siteRun is the work on one target site during Run.
type siteRun struct {
	*promoteJob
	c      *qrs.Client
	t      engine.Target
	out    *siteOutcome
	helper *qrs.App   // the uploaded app, once there is one
	copies []*qrs.App // server-side copies of it this attempt meant to publish
}

func (r *siteRun) key(parts ...string) string { return r.t.Site + "/" + strings.Join(parts, "/") }

func (j *promoteJob) runSite(ctx context.Context, t engine.Target) (out siteOutcome) {
	out.site = t.Site
	c, err := j.d.site(t.Site)
	if err != nil {
		out.err = err
		return out
	}
	out.host = c.HubHost()
	r := &siteRun{promoteJob: j, c: c, t: t, out: &out}
	defer r.dropUnpublished(ctx)
	out.err = r.run(ctx)
	return out
}

func (r *siteRun) run(ctx context.Context) error {
	l, err := r.layout(ctx, r.c, r.t.Mode)
	if err != nil {
		return err
	}
	r.out.notFound = l.notFound
	if len(l.found) == 0 {
		r.out.notes = append(r.out.notes, fmt.Sprintf("site %s: none of the target streams exists; nothing to do", r.t.Site))
		return nil
	}
	var publish []qrs.Stream
	for _, s := range l.found {
		if v, ok := r.journal.Get(r.key("stream", s.ID)); ok {
			var done []PromotedApp
			if err := json.Unmarshal([]byte(v), &done); err == nil {
				r.out.apps = append(r.out.apps, done...)
				continue
			}
		}
		// An app this step published in an earlier attempt is not one to replace.
		mine, _ := r.journal.Get(r.key("new", s.ID))
		var olds []qrs.App
		for _, a := range l.replace[s.ID] {
			if a.ID != mine {
				olds = append(olds, a)
			}
		}
		if len(olds) == 0 {
			publish = append(publish, s)
			continue
		}
		if err := r.replaceIn(ctx, s, olds); err != nil {
			return err
		}
	}
	return r.publishAll(ctx, publish)
}

// replaceIn replaces every same-named published app of stream s with the helper.
func (r *siteRun) replaceIn(ctx context.Context, s qrs.Stream, olds []qrs.App) error {
	var entries []PromotedApp
	for _, old := range olds {
		k := r.key("replaced", old.ID)
		if _, done := r.journal.Get(k); !done {
			h, err := r.ensureHelper(ctx)
			if err != nil {
				return err
			}
			if _, err := r.c.ReplaceApp(ctx, h.ID, old.ID); err != nil {
				return fmt.Errorf("replacing app %s %s in stream %s: %w", short(old.ID), q(old.Name), q(s.Name), err)
			}
			if err := r.journal.Put(k, "done"); err != nil {
				return err
			}
			r.in.Log.Info("promote: replaced", "site", r.t.Site, "stream", s.Name, "app", old.ID)
		}
		entries = append(entries, r.entry(r.c, s, old.ID, "replaced"))
	}
	return r.streamDone(s, entries)
}

func (r *siteRun) streamDone(s qrs.Stream, entries []PromotedApp) error {
	b, _ := json.Marshal(entries)
	r.out.apps = append(r.out.apps, entries...)
	return r.journal.Put(r.key("stream", s.ID), string(b))
}

// publishAll publishes a new app into each stream: the helper itself into
// the first, server-side copies of it into the others.
func (r *siteRun) publishAll(ctx context.Context, streams []qrs.Stream) error {
	if len(streams) == 0 {
		return nil
	}
	// The helper may already serve a stream (an earlier attempt).
	helperTaken := false
	for _, s := range streams {
		if v, ok := r.journal.Get(r.key("new", s.ID)); ok && v != creating {
			if hv, ok := r.journal.Get(r.key("helper")); ok && hv == v {
				helperTaken = true
			}
		}
	}
	for _, s := range streams {
		app, err := r.appFor(ctx, s, &helperTaken)
		if err != nil {
			return err
		}
		if !(app.Published && app.Stream != nil && app.Stream.ID == s.ID) {
			if _, err := r.c.PublishApp(ctx, app.ID, s.ID, r.name); err != nil {
				// A publish whose answer was lost and that was retried fails
				// as "already published": look before reporting it.
				now, rerr := r.c.App(ctx, app.ID)
				if rerr != nil || !now.Published || now.Stream == nil || now.Stream.ID != s.ID {
					return fmt.Errorf("publishing to stream %s: %w", q(s.Name), err)
				}
			}
			r.in.Log.Info("promote: published", "site", r.t.Site, "stream", s.Name, "app", app.ID)
		}
		if err := r.streamDone(s, []PromotedApp{r.entry(r.c, s, app.ID, "published")}); err != nil {
			return err
		}
	}
	return nil
}

// appFor returns the unpublished (or already published there) app to
// publish into s, creating it at most once across attempts.
func (r *siteRun) appFor(ctx context.Context, s qrs.Stream, helperTaken *bool) (*qrs.App, error) {
	k := r.key("new", s.ID)
	if v, ok := r.journal.Get(k); ok && v != creating {
		app, err := r.c.App(ctx, v)
		if err == nil {
			r.copies = append(r.copies, app)
			return app, nil
		}
		if !qrs.IsNotFound(err) {
			return nil, err
		}
	}
	h, err := r.ensureHelper(ctx)
	if err != nil {
		return nil, err
	}
	app := h
	if *helperTaken || h.Published {
		if err := r.journal.Put(k, creating); err != nil {
			return nil, err
		}
		name := tempName(r.in, r.t.Site+"/copy/"+s.ID)
		app, err = createOnce(ctx, r.c, r.d.Retry, name, func(ctx context.Context) (*qrs.App, error) {
			return r.c.CopyApp(ctx, h.ID, name)
		})
		if err != nil {
			return nil, fmt.Errorf("copying the uploaded app for stream %s: %w", q(s.Name), err)
		}
		r.copies = append(r.copies, app)
	}
	*helperTaken = true
	return app, r.journal.Put(k, app.ID)
}

// ensureHelper returns the app uploaded to this site, uploading it if this
// step has not already (in this attempt or an earlier one).
func (r *siteRun) ensureHelper(ctx context.Context) (*qrs.App, error) {
	if r.helper != nil {
		return r.helper, nil
	}
	k := r.key("helper")
	if v, ok := r.journal.Get(k); ok && v != creating {
		app, err := r.c.App(ctx, v)
		if err == nil {
			r.helper = app
			return app, nil
		}
		if !qrs.IsNotFound(err) {
			return nil, err
		}
	}
	if err := r.journal.Put(k, creating); err != nil {
		return nil, err
	}
	name := tempName(r.in, r.t.Site+"/upload")
	var moved atomic.Int64
	var size int64
	// The export happens here, once per run, only when an upload is needed
	// (not when an interrupted attempt's upload is found).
	app, err := createOnce(ctx, r.c, r.d.Retry, name, func(ctx context.Context) (*qrs.App, error) {
		sp, err := r.export()
		if err != nil {
			return nil, err
		}
		// The site's link is shared: wait for one of its upload slots,
		// holding nothing of another site's meanwhile.
		release, err := r.d.Transfers.upload(ctx, r.t.Site, func(ahead int) {
			r.progressf("promote: site %s: waiting to upload (%d uploads ahead)", r.t.Site, ahead)
		})
		if err != nil {
			return nil, err
		}
		defer release()
		// The upload follows the export as it is spooled; an export of
		// unknown size must be whole first (an upload announces its size).
		if size = sp.Expected(); size < 0 {
			if err := sp.wait(); err != nil {
				return nil, err
			}
			size = sp.Size()
		}
		report := progressEvery(progressStep(size), func(n int64) {
			r.progressf("promote: site %s: uploaded %s of %s", r.t.Site, bytesText(n), bytesText(size))
		})
		body := &countReader{r: sp.Reader(), n: &moved, progress: report}
		app, err := r.c.UploadApp(ctx, name, r.keep, body, size)
		if ferr := sp.failed(); err != nil && ferr != nil {
			return nil, ferr // the export failed: uploading again cannot help
		}
		return app, err
	})
	r.out.uploaded += moved.Load()
	if err != nil {
		return nil, fmt.Errorf("uploading to site %s: %w", r.t.Site, err)
	}
	if moved.Load() > 0 {
		r.in.Log.Info("promote: uploaded", "site", r.t.Site, "app", app.ID, "bytes", moved.Load())
		r.progressf("promote: site %s: upload done (%s), app %s", r.t.Site, bytesText(size), short(app.ID))
	} else {
		r.in.Log.Info("promote: using the app an interrupted attempt uploaded", "site", r.t.Site, "app", app.ID)
	}
	r.helper = app
	return app, r.journal.Put(k, app.ID)
}

// dropUnpublished deletes the uploaded app and the copies made of it
// unless they were published. It runs whether the site succeeded or not, so
// a failure leaves no app under a temporary name; a retry uploads or copies
// again if it must.
func (r *siteRun) dropUnpublished(ctx context.Context) {
	ctx = context.WithoutCancel(ctx)
	seen := map[string]bool{}
	for _, made := range append(r.copies, r.helper) {
		if made == nil || seen[made.ID] {
			continue
		}
		seen[made.ID] = true
		app, err := r.c.App(ctx, made.ID)
		if err == nil && !app.Published {
			err = r.c.DeleteApp(ctx, app.ID)
		}
		if err != nil && !qrs.IsNotFound(err) {
			r.out.notes = append(r.out.notes, fmt.Sprintf("site %s: could not delete the unpublished app %s %s: %v; delete it in the QMC", r.t.Site, made.ID, q(made.Name), err))
		}
	}
}
