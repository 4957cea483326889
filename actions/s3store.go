package actions

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// DefaultS3Prefix is the original's key prefix.
const DefaultS3Prefix = "PromotedToTest/"

// S3Config is where s3-version keeps app templates. Credentials come from
// the standard AWS chain (environment, shared config/credentials files and
// Profile, SSO, instance or task role), never from this struct.
type S3Config struct {
	Bucket    string `yaml:"bucket"`
	Prefix    string `yaml:"prefix"`     // key prefix; default PromotedToTest/
	Region    string `yaml:"region"`     // default: from the AWS chain, else us-east-1
	Endpoint  string `yaml:"endpoint"`   // S3-compatible store (MinIO, Ceph…): its base URL
	PathStyle bool   `yaml:"path_style"` // https://endpoint/bucket/key instead of bucket.endpoint
	Profile   string `yaml:"profile"`    // shared-config profile; "" : AWS_PROFILE or default
}

// S3Store uploads objects to a versioned S3 bucket.
type S3Store struct {
	cfg    S3Config
	client *s3.Client
}

// NewS3Store resolves credentials and region and returns a store. It does
// not contact S3 (CheckVersioning does).
func NewS3Store(ctx context.Context, cfg S3Config) (*S3Store, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("s3: bucket is empty: set s3.bucket to a bucket with versioning enabled")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultS3Prefix
	}
	var opts []func(*config.LoadOptions) error
	if cfg.Region != "" {
		opts = append(opts, config.WithRegion(cfg.Region))
	}
	if cfg.Profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(cfg.Profile))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("s3: loading AWS configuration: %w", err)
	}
	if awsCfg.Region == "" {
		awsCfg.Region = "us-east-1"
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		o.UsePathStyle = cfg.PathStyle
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
			// Many S3-compatible stores reject the newer default checksum
			// trailers; ask for checksums only where S3 requires them.
			o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
			o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		}
	})
	return &S3Store{cfg: cfg, client: client}, nil
}

// Bucket returns the bucket's name.
func (s *S3Store) Bucket() string { return s.cfg.Bucket }

// Prefix returns the key prefix.
func (s *S3Store) Prefix() string { return s.cfg.Prefix }

// ErrVersioningOff is returned when the bucket does not keep versions.
var ErrVersioningOff = errors.New("versioning off")

// CheckVersioning reports whether the bucket exists, can be reached with
// the credentials, and keeps versions.
func (s *S3Store) CheckVersioning(ctx context.Context) error {
	out, err := s.client.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: &s.cfg.Bucket})
	if err != nil {
		return s.explain(err)
	}
	if out.Status != types.BucketVersioningStatusEnabled {
		return fmt.Errorf("s3: bucket %s has %w (status %q): enable it (aws s3api put-bucket-versioning --bucket %s --versioning-configuration Status=Enabled) so that every promotion keeps its own version",
			s.cfg.Bucket, ErrVersioningOff, string(out.Status), s.cfg.Bucket)
	}
	return nil
}

// Put uploads body (size bytes; seekable, so the request can be signed and
// resent) under key and returns the new object version's ID.
func (s *S3Store) Put(ctx context.Context, key string, body io.ReadSeeker, size int64) (versionID string, err error) {
	out, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        &s.cfg.Bucket,
		Key:           &key,
		Body:          body,
		ContentLength: &size,
		ContentType:   aws.String("application/octet-stream"),
	})
	if err != nil {
		return "", s.explain(err)
	}
	if out.VersionId == nil || *out.VersionId == "" || *out.VersionId == "null" {
		return "", fmt.Errorf("s3: bucket %s returned no version ID for %s: it has %w; enable versioning on the bucket", s.cfg.Bucket, key, ErrVersioningOff)
	}
	return *out.VersionId, nil
}

// explain adds what to fix to the S3 errors an admin meets.
func (s *S3Store) explain(err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NoSuchBucket":
			return fmt.Errorf("s3: bucket %s does not exist (check s3.bucket and s3.region): %w", s.cfg.Bucket, err)
		case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch":
			return fmt.Errorf("s3: bucket %s refused the credentials (the AWS chain: AWS_* variables, profile %q, instance role); they need s3:PutObject and s3:GetBucketVersioning: %w", s.cfg.Bucket, s.cfg.Profile, err)
		}
	}
	if strings.Contains(err.Error(), "failed to retrieve credentials") || strings.Contains(err.Error(), "no EC2 IMDS role") {
		return fmt.Errorf("s3: no AWS credentials found: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile, or an instance role: %w", err)
	}
	return fmt.Errorf("s3: bucket %s: %w", s.cfg.Bucket, err)
}
