package actions

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// startS3 serves an in-memory S3 over HTTP with a versioned bucket
// "versions" and an unversioned one "plain", and returns a store config
// for it. Credentials come through the AWS chain's environment variables.
func startS3(t *testing.T) S3Config {
	t.Helper()
	srv := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	t.Cleanup(srv.Close)
	none := filepath.Join(t.TempDir(), "none")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_CONFIG_FILE", none)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", none)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	cfg := S3Config{Bucket: "versions", Region: "eu-west-1", Endpoint: srv.URL, PathStyle: true}
	st, err := NewS3Store(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, b := range []string{"versions", "plain"} {
		if _, err := st.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &b}); err != nil {
			t.Fatal(err)
		}
	}
	_, err = st.client.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{
		Bucket:                  &cfg.Bucket,
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled},
	})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestS3StoreKeepsVersions(t *testing.T) {
	cfg := startS3(t)
	ctx := context.Background()
	st, err := NewS3Store(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if st.Prefix() != DefaultS3Prefix {
		t.Errorf("prefix %q, want the default %q", st.Prefix(), DefaultS3Prefix)
	}
	if err := st.CheckVersioning(ctx); err != nil {
		t.Fatal(err)
	}
	key := "PromotedToTest/Sales 'Q1'-Template.qvf"
	v1, err := st.Put(ctx, key, strings.NewReader("first"), 5)
	if err != nil {
		t.Fatal(err)
	}
	v2, err := st.Put(ctx, key, strings.NewReader("second!"), 7)
	if err != nil {
		t.Fatal(err)
	}
	if v1 == "" || v1 == v2 {
		t.Fatalf("versions %q and %q: want two distinct IDs", v1, v2)
	}
	for id, want := range map[string]string{v1: "first", v2: "second!"} {
		out, err := st.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &cfg.Bucket, Key: &key, VersionId: &id})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(out.Body)
		out.Body.Close()
		if !bytes.Equal(b, []byte(want)) {
			t.Errorf("version %s holds %q, want %q", id, b, want)
		}
	}
}

func TestS3StoreVersioningOffAndMissingBucket(t *testing.T) {
	cfg := startS3(t)
	ctx := context.Background()
	cfg.Bucket = "plain"
	st, err := NewS3Store(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = st.CheckVersioning(ctx)
	if !errors.Is(err, ErrVersioningOff) || !strings.Contains(err.Error(), "bucket plain has versioning off (status \"\"): enable it") {
		t.Errorf("CheckVersioning = %v, want versioning off with how to enable it", err)
	}
	if _, err := st.Put(ctx, "k", strings.NewReader("x"), 1); !errors.Is(err, ErrVersioningOff) {
		t.Errorf("Put into an unversioned bucket = %v, want ErrVersioningOff", err)
	}
	cfg.Bucket = "nope"
	st, _ = NewS3Store(ctx, cfg)
	if err := st.CheckVersioning(ctx); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing bucket: %v", err)
	}
	if _, err := NewS3Store(ctx, S3Config{}); err == nil || !strings.Contains(err.Error(), "set s3.bucket") {
		t.Errorf("empty config: %v", err)
	}
}
