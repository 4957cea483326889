package actions

import (
	"context"
	"errors"
	"fmt"

	"github.com/qs-promoter/qs-promoter/engine"
	"github.com/qs-promoter/qs-promoter/qrs"
)

func init() { register("s3-version", func(d Deps) engine.Action { return &s3Version{d: d} }) }

var _ engine.Action = (*s3Version)(nil)

// s3Version keeps a version of the app, without data, in the S3 bucket.
type s3Version struct{ d Deps }

func (a *s3Version) Spec() engine.ActionSpec {
	return engine.ActionSpec{
		Name:    "s3-version",
		Summary: "Export the app without data and upload it to the versioned S3 bucket; returns the version ID.",
		Params: []engine.Param{
			{Name: "key", Kind: engine.KindString, Doc: "object key; default <prefix><app name>-Template.qvf"},
		},
	}
}

func (a *s3Version) key(in *engine.StepInput) string {
	if k := in.Params.String("key"); k != "" {
		return k
	}
	prefix := ""
	if a.d.S3 != nil { // offline without a bucket: the prefix is the configuration's
		prefix = a.d.S3.Prefix()
	}
	return prefix + in.Facts.App.Name + "-Template.qvf"
}

// planOffline names the object without asking the bucket whether it keeps versions.
func (a *s3Version) planOffline(in *engine.StepInput) (engine.Result, error) {
	if _, err := eventApp(in); err != nil {
		return engine.Result{Status: engine.StatusFailed, Summary: "s3-version: " + err.Error()}, err
	}
	bucket, shown := "", "(configured bucket)"
	if a.d.S3 != nil {
		bucket, shown = a.d.S3.Bucket(), a.d.S3.Bucket()
	}
	key := a.key(in)
	res := engine.Result{Status: engine.StatusPlanned,
		Summary: fmt.Sprintf("would version %s (exported without data from site %s) as s3://%s/%s", q(in.Facts.App.Name), in.Facts.Event.Site, shown, oneLine(key)),
		Values:  map[string]any{"version_id": "", "key": key, "bucket": bucket}}
	if a.d.S3 == nil && in.Params.String("key") == "" {
		res.Details = append(res.Details, "the key starts with the configured prefix, if any")
	}
	return res, nil
}

func (a *s3Version) check(in *engine.StepInput) error {
	if a.d.S3 == nil {
		return errors.New("S3 versioning is not configured: add s3 (bucket, region; optional prefix, endpoint) to the configuration")
	}
	_, err := a.d.source(in)
	return err
}

func (a *s3Version) Plan(ctx context.Context, in *engine.StepInput) (engine.Result, error) {
	if a.d.Offline {
		return a.planOffline(in)
	}
	if err := a.check(in); err != nil {
		return engine.Result{Status: engine.StatusFailed, Summary: "s3-version: " + err.Error()}, err
	}
	key := a.key(in)
	res := engine.Result{Status: engine.StatusPlanned,
		Summary: fmt.Sprintf("would export app %s %s without data from site %s and upload it to s3://%s/%s",
			short(in.Facts.App.ID), q(in.Facts.App.Name), in.Facts.Event.Site, a.d.S3.Bucket(), oneLine(key)),
		Values: map[string]any{"version_id": "", "key": key, "bucket": a.d.S3.Bucket()}}
	if err := a.d.S3.CheckVersioning(ctx); err != nil {
		res.Details = append(res.Details, "the upload would fail: "+err.Error())
	}
	return res, nil
}

// Run uploads one version per execution: a retry after success returns the
// version recorded in the journal.
func (a *s3Version) Run(ctx context.Context, in *engine.StepInput) (engine.Result, error) {
	if err := a.d.online(); err != nil {
		return engine.Result{}, err
	}
	if err := a.check(in); err != nil {
		return engine.Result{}, err
	}
	key := a.key(in)
	values := map[string]any{"key": key, "bucket": a.d.S3.Bucket()}
	done := func(id string, size int64, again bool) engine.Result {
		values["version_id"] = id
		s := fmt.Sprintf("versioned %s as s3://%s/%s version %s", q(in.Facts.App.Name), a.d.S3.Bucket(), oneLine(key), id)
		if again {
			s += " (earlier attempt)"
		} else {
			values["size"] = size
		}
		return engine.Result{Status: engine.StatusDone, Summary: s, Values: values}
	}
	if in.Journal != nil {
		if id, ok := in.Journal.Get("version_id"); ok {
			return done(id, 0, true), nil
		}
	}
	// Fail before exporting when the bucket cannot keep versions.
	if err := a.d.S3.CheckVersioning(ctx); err != nil {
		return engine.Result{}, err
	}
	src, _ := a.d.source(in)
	dl, err := try(ctx, a.d.Retry, func(ctx context.Context) (*qrs.Download, error) {
		return src.ExportApp(ctx, in.Facts.App.ID, true)
	})
	if err != nil {
		return engine.Result{}, fmt.Errorf("exporting app %s %s without data from site %s: %w", short(in.Facts.App.ID), q(in.Facts.App.Name), src.Alias(), err)
	}
	sp, err := spoolCopy(ctx, a.d.TempDir, dl, nil)
	_ = dl.Close()
	if err != nil {
		return engine.Result{}, err
	}
	defer sp.Close()
	id, err := a.d.S3.Put(ctx, key, sp.Reader(), sp.Size())
	if err != nil {
		return engine.Result{}, err
	}
	if in.Journal != nil {
		if err := in.Journal.Put("version_id", id); err != nil {
			return engine.Result{}, fmt.Errorf("recording version %s: %w", id, err)
		}
	}
	in.Log.Info("s3-version: uploaded", "bucket", a.d.S3.Bucket(), "key", key, "version", id, "bytes", sp.Size())
	return done(id, sp.Size(), false), nil
}
