package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// ErrObjectChanged is wrapped when an object is no longer the version a record points at.
var ErrObjectChanged = errors.New("object changed since it was referenced")

// Ref names one version of an object in someone else's bucket: an external claim check.
type Ref struct {
	// Endpoint and Region locate the S3 service ("" endpoint: AWS).
	Endpoint, Region string
	// Credentials names the keys to read it with (see CredentialsEnv).
	Credentials string
	Bucket, Key string
	// VersionID, when the bucket is versioned, else ETag, pins the bytes read.
	VersionID, ETag string
}

// External opens the objects external claim checks point at, with one client per
// endpoint, region and credentials, built on first use.
type External struct {
	getenv func(string) string
	// own is used for refs without a credentials name: the service's own keys.
	own     Endpoint
	mu      sync.Mutex
	clients map[[3]string]*s3.Client
}

// NewExternal returns an opener that reads credentials through getenv; own holds the
// service's own keys, used for refs that name no credentials.
func NewExternal(getenv func(string) string, own Endpoint) *External {
	return &External{getenv: getenv, own: own, clients: map[[3]string]*s3.Client{}}
}

func (x *External) client(r Ref) (*s3.Client, error) {
	k := [3]string{r.Endpoint, r.Region, r.Credentials}
	x.mu.Lock()
	defer x.mu.Unlock()
	if c, ok := x.clients[k]; ok {
		return c, nil
	}
	e := Endpoint{URL: r.Endpoint, Region: r.Region, AccessKey: x.own.AccessKey, SecretKey: x.own.SecretKey}
	if r.Credentials != "" {
		ak, sk, err := LoadCredentials(x.getenv, r.Credentials)
		if err != nil {
			return nil, err
		}
		if ak == "" {
			av, sv := CredentialsEnv(r.Credentials)
			return nil, fmt.Errorf("credentials %q for s3://%s: set %s and %s (or their _FILE variants)", r.Credentials, r.Bucket, av, sv)
		}
		e.AccessKey, e.SecretKey = ak, sk
	}
	c := NewClient(e)
	x.clients[k] = c
	return c, nil
}

// Open streams exactly the referenced version of the object; the caller closes it. An
// object replaced or deleted since is ErrObjectChanged (the bytes referenced are gone).
func (x *External) Open(ctx context.Context, r Ref) (io.ReadCloser, error) {
	c, err := x.client(r)
	if err != nil {
		return nil, err
	}
	in := &s3.GetObjectInput{Bucket: aws.String(r.Bucket), Key: aws.String(r.Key)}
	if r.VersionID != "" {
		in.VersionId = aws.String(r.VersionID)
	} else if r.ETag != "" {
		in.IfMatch = aws.String(r.ETag)
	}
	out, err := c.GetObject(ctx, in)
	if err != nil {
		if IsGone(err) {
			return nil, fmt.Errorf("get s3://%s/%s (etag %s, version %q): %w: %w", r.Bucket, r.Key, r.ETag, r.VersionID, ErrObjectChanged, err)
		}
		return nil, fmt.Errorf("get s3://%s/%s: %w", r.Bucket, r.Key, err)
	}
	return out.Body, nil
}

// IsGone reports whether err says the object (or the version asked for) is not there:
// a failed If-Match precondition, a missing key or version.
func IsGone(err error) bool {
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "PreconditionFailed", "NoSuchKey", "NoSuchVersion", "NotFound":
			return true
		case "NoSuchBucket":
			return false
		}
	}
	// HEAD responses carry no error body: only the status says it.
	var status interface{ HTTPStatusCode() int }
	if errors.As(err, &status) {
		return status.HTTPStatusCode() == http.StatusNotFound || status.HTTPStatusCode() == http.StatusPreconditionFailed
	}
	return false
}
