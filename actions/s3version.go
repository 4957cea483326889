package actions

import (
	"context"
	"errors"
	"fmt"

	"github.com/qs-promoter/qs-promoter/engine"
	"github.com/qs-promoter/qs-promoter/qrs"
)

func init() { register(func(d Deps) engine.Action { return &s3Version{d: d} }) }

var (
	_ engine.Action  = (*s3Version)(nil)
	_ engine.Planner = (*s3Version)(nil)
	_ offlinePlanner = (*s3Version)(nil)
)

// s3Version keeps a version of the app, without data, in the S3 bucket.
type s3Version struct{ d Deps }

func (a *s3Version) Spec() engine.ActionSpec {
	return engine.ActionSpec{
		Name:    "s3-version",
		Summary: "Export the app without data and upload it to the versioned S3 bucket; returns the version ID.",
		Params: []engine.Param{
			{Name: "key", Kind: engine.KindString, DefaultDoc: "`<prefix><name>-Template.qvf`", Doc: "object key"},
		},
		Example: `- id: s3
  action: s3-version
  if: config.s3_enabled and len(steps.promote.apps) > 0
  on_error: continue
`,
	}
}

// plannedVersionID stands in a plan for the version ID only S3 can give, so
// that later steps plan with what they would get (describe's text names it).
const plannedVersionID = "<version ID from S3>"

// bucket is the configured bucket: the store's, else the configuration's
// (a dry-run), else "" (offline without a configuration).
func (a *s3Version) bucket() string {
	switch {
	case a.d.S3 != nil:
		return a.d.S3.Bucket()
	case a.d.S3Config != nil:
		return a.d.S3Config.Bucket
	}
	return ""
}

// key is the object's key; its prefix comes from the store or, in a
// dry-run, the configuration (none without either).
func (a *s3Version) key(in *engine.StepInput) string {
	if k := in.Params.String("key"); k != "" {
		return k
	}
	prefix := ""
	switch {
	case a.d.S3 != nil:
		prefix = a.d.S3.Prefix()
	case a.d.S3Config != nil:
		prefix = a.d.S3Config.Prefix
		if prefix == "" {
			prefix = DefaultS3Prefix
		}
	}
	return prefix + in.Facts.App.Name + "-Template.qvf"
}

// planOffline names the object without asking the bucket whether it keeps versions.
func (a *s3Version) planOffline(in *engine.StepInput) (engine.Result, error) {
	if _, err := eventApp(in); err != nil {
		return engine.Result{Status: engine.StatusFailed, Summary: "s3-version: " + err.Error()}, err
	}
	bucket, shown := a.bucket(), a.bucket()
	if shown == "" {
		shown = "(configured bucket)"
	}
	key := a.key(in)
	res := engine.Result{Status: engine.StatusPlanned,
		Summary: fmt.Sprintf("would version %s (exported without data from site %s) as s3://%s/%s", q(in.Facts.App.Name), in.Facts.Event.Site, shown, oneLine(key)),
		Values:  map[string]any{"version_id": plannedVersionID, "key": key, "bucket": bucket}}
	if bucket == "" && in.Params.String("key") == "" {
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

// Plan reads the source site's configuration and asks the bucket whether
// it keeps versions; with only the bucket's configuration (a dry-run), it
// names the object without asking.
func (a *s3Version) Plan(ctx context.Context, in *engine.StepInput) (engine.Result, error) {
	err := a.check(in)
	if a.d.S3 == nil && a.d.S3Config != nil {
		_, err = a.d.source(in)
	}
	if err != nil {
		return engine.Result{Status: engine.StatusFailed, Summary: "s3-version: " + err.Error()}, err
	}
	key := a.key(in)
	res := engine.Result{Status: engine.StatusPlanned,
		Summary: fmt.Sprintf("would export app %s %s without data from site %s and upload it to s3://%s/%s",
			short(in.Facts.App.ID), q(in.Facts.App.Name), in.Facts.Event.Site, a.bucket(), oneLine(key)),
		Values: map[string]any{"version_id": plannedVersionID, "key": key, "bucket": a.bucket()}}
	if a.d.S3 == nil {
		res.Details = append(res.Details, "the bucket is not contacted: whether it keeps versions is checked when the step runs")
	} else if err := a.d.S3.CheckVersioning(ctx); err != nil {
		res.Details = append(res.Details, "the upload would fail: "+err.Error())
	}
	return res, nil
}

// Run uploads one version per execution: a retry after success returns the
// version recorded in the journal.
func (a *s3Version) Run(ctx context.Context, in *engine.StepInput) (engine.Result, error) {
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
