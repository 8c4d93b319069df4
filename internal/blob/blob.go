// Package blob stores payloads too large to travel inline (claim checks) in S3-compatible
// object storage, streaming both ways so memory stays bounded by part size × concurrency.
package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Config locates the object store.
type Config struct {
	// Endpoint is the S3 URL; empty uses AWS's regional endpoints.
	Endpoint  string
	Region    string
	Bucket    string
	AccessKey string
	SecretKey string
	// PartSize of multipart uploads (at least 5 MiB, S3's minimum).
	PartSize int64
	// Concurrency is the number of parts uploaded at once.
	Concurrency int
}

// Validate names the wrong field.
func (c Config) Validate() error {
	var errs []error
	if c.Endpoint != "" {
		if u, err := url.Parse(c.Endpoint); err != nil || u.Scheme == "" || u.Host == "" {
			errs = append(errs, fmt.Errorf("--s3-endpoint / SLUICE_S3_ENDPOINT %q: want a URL such as http://127.0.0.1:9000", c.Endpoint))
		}
	}
	if c.Region == "" {
		errs = append(errs, errors.New("--s3-region / SLUICE_S3_REGION is empty"))
	}
	if c.Bucket == "" {
		errs = append(errs, errors.New("--s3-bucket / SLUICE_S3_BUCKET is empty"))
	}
	if (c.AccessKey == "") != (c.SecretKey == "") {
		errs = append(errs, errors.New("SLUICE_S3_ACCESS_KEY and SLUICE_S3_SECRET_KEY must be set together"))
	}
	if c.PartSize < 5<<20 {
		errs = append(errs, fmt.Errorf("--s3-part-size %d: S3 parts are at least 5 MiB", c.PartSize))
	}
	if c.Concurrency < 1 || c.Concurrency > 64 {
		errs = append(errs, fmt.Errorf("--s3-concurrency %d: want 1..64", c.Concurrency))
	}
	return errors.Join(errs...)
}

// Store is a bucket of claim-checked payloads.
type Store struct {
	client *s3.Client
	cfg    Config
}

// New returns a store; it does not contact the server.
func New(cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Store{client: NewClient(Endpoint{URL: cfg.Endpoint, Region: cfg.Region, AccessKey: cfg.AccessKey, SecretKey: cfg.SecretKey}), cfg: cfg}, nil
}

// Bucket is the bucket payloads go to.
func (s *Store) Bucket() string { return s.cfg.Bucket }

// Client exposes the S3 client for providers that list or copy objects.
func (s *Store) Client() *s3.Client { return s.client }

// EnsureBucket creates the bucket when it does not exist.
func (s *Store) EnsureBucket(ctx context.Context) error {
	if _, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(s.cfg.Bucket)}); err == nil {
		return nil
	}
	_, err := s.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(s.cfg.Bucket)})
	var owned *types.BucketAlreadyOwnedByYou
	var exists *types.BucketAlreadyExists
	if err != nil && !errors.As(err, &owned) && !errors.As(err, &exists) {
		return fmt.Errorf("create bucket %s: %w", s.cfg.Bucket, err)
	}
	return nil
}

// Open streams an object; the caller closes the body.
func (s *Store) Open(ctx context.Context, bucket, key string) (io.ReadCloser, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil, fmt.Errorf("get s3://%s/%s: %w", bucket, key, err)
	}
	return out.Body, nil
}
