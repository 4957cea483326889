package demo

import (
	"fmt"
	"io"
	"net/http/httptest"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// S3Server is an in-process S3 store (gofakes3) on a loopback HTTP server,
// holding one bucket with versioning on, as the original's setup required.
type S3Server struct {
	URL    string // endpoint; use path-style addressing
	Bucket string

	backend *s3mem.Backend
	srv     *httptest.Server
}

// The static credentials the fake store accepts (it checks none).
const (
	S3AccessKey = "demo-access-key"
	S3SecretKey = "demo-secret-key"
	S3Region    = "us-east-1"
)

// StartS3 starts the store and creates bucket with versioning enabled.
func StartS3(bucket string) (*S3Server, error) {
	backend := s3mem.New()
	if err := backend.CreateBucket(bucket); err != nil {
		return nil, fmt.Errorf("s3: create bucket %q: %w", bucket, err)
	}
	err := backend.SetVersioningConfiguration(bucket, gofakes3.VersioningConfiguration{Status: gofakes3.VersioningEnabled})
	if err != nil {
		return nil, fmt.Errorf("s3: enable versioning on %q: %w", bucket, err)
	}
	faker := gofakes3.New(backend, gofakes3.WithLogger(gofakes3.DiscardLog()))
	srv := httptest.NewServer(faker.Server())
	return &S3Server{URL: srv.URL, Bucket: bucket, backend: backend, srv: srv}, nil
}

// ObjectVersion is one stored version of a key.
type ObjectVersion struct {
	Key       string
	VersionID string
	Size      int64
	Latest    bool
}

// Versions lists the versions stored under prefix, newest first per key.
func (s *S3Server) Versions(prefix string) ([]ObjectVersion, error) {
	p := gofakes3.NewPrefix(&prefix, nil)
	res, err := s.backend.ListBucketVersions(s.Bucket, &p, nil)
	if err != nil {
		return nil, err
	}
	var out []ObjectVersion
	for _, item := range res.Versions {
		if v, ok := item.(*gofakes3.Version); ok {
			out = append(out, ObjectVersion{Key: v.Key, VersionID: string(v.VersionID), Size: v.Size, Latest: v.IsLatest})
		}
	}
	return out, nil
}

// Object reads the latest version of key.
func (s *S3Server) Object(key string) ([]byte, error) {
	obj, err := s.backend.GetObject(s.Bucket, key, nil)
	if err != nil {
		return nil, err
	}
	defer obj.Contents.Close()
	return io.ReadAll(obj.Contents)
}

// Close stops the server.
func (s *S3Server) Close() { s.srv.Close() }
