package s3objects

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/sluice-dev/sluice/internal/blob"
	"github.com/sluice-dev/sluice/internal/spec"
	"github.com/sluice-dev/sluice/services/extractor/providers/s3objects/transfer"
)

// Config is the provider's configuration (--provider-config). Keys are never in it:
// each bucket names its credentials, read from SLUICE_S3_<NAME>_ACCESS_KEY and
// _SECRET_KEY (or their _FILE variants).
type Config struct {
	// Source is the bucket and prefix objects are discovered under.
	Source Bucket `json:"source"`
	// Datasets, in ingest mode, say which objects are records of which dataset.
	Datasets []Dataset `json:"datasets,omitempty"`
	// Target, when set, makes this a transfer: objects are copied there, not ingested.
	Target *Bucket `json:"target,omitempty"`
	// Transfer sizes the parts of multipart copies and how many are in flight.
	Transfer transfer.Config `json:"transfer"`
	// RequestsPerSecond caps the S3 calls of all replicas together (listing, heads,
	// parts).
	RequestsPerSecond float64 `json:"requests_per_second"`
}

// Bucket is one side of the provider.
type Bucket struct {
	// Endpoint is the S3 URL; empty for AWS.
	Endpoint string `json:"endpoint,omitempty"`
	Region   string `json:"region"`
	Bucket   string `json:"bucket"`
	Prefix   string `json:"prefix,omitempty"`
	// Credentials names the keys (see blob.CredentialsEnv); empty: SLUICE_S3_ACCESS_KEY.
	Credentials string `json:"credentials,omitempty"`
}

// Dataset maps objects to a dataset.
type Dataset struct {
	// Prefix selects the objects (after Source.Prefix); the longest matching prefix wins.
	Prefix string `json:"prefix"`
	// Spec is the dataset spec (provider "s3objects"); its format (json_array, ndjson,
	// csv) is how the objects are read. Objects whose key ends in .gz are gunzipped.
	Spec json.RawMessage `json:"spec"`
}

// DefaultConfig has no buckets: they must be configured.
func DefaultConfig() *Config {
	return &Config{Transfer: transfer.DefaultConfig(), RequestsPerSecond: 200}
}

// Validate names the wrong field.
func (c *Config) Validate() error {
	errs := []error{c.Source.validate("source"), c.Transfer.Validate()}
	if c.RequestsPerSecond <= 0 {
		errs = append(errs, fmt.Errorf("s3objects: requests_per_second %v: must be positive", c.RequestsPerSecond))
	}
	if c.Target != nil {
		errs = append(errs, c.Target.validate("target"))
		if len(c.Datasets) > 0 {
			errs = append(errs, errors.New("s3objects: datasets and target: a deployment either ingests or transfers"))
		}
		if c.Target.Endpoint == c.Source.Endpoint && c.Target.Bucket == c.Source.Bucket && c.Target.Prefix == c.Source.Prefix {
			errs = append(errs, errors.New("s3objects: target is the source"))
		}
	} else if len(c.Datasets) == 0 {
		errs = append(errs, errors.New("s3objects: no datasets: ingest needs at least one (or set target to transfer)"))
	}
	for i, d := range c.Datasets {
		if _, err := d.parse(); err != nil {
			errs = append(errs, fmt.Errorf("s3objects: datasets[%d]: %w", i, err))
		}
	}
	return errors.Join(errs...)
}

func (b Bucket) validate(what string) error {
	var errs []error
	if b.Bucket == "" {
		errs = append(errs, fmt.Errorf("s3objects: %s.bucket is empty", what))
	}
	if b.Region == "" {
		errs = append(errs, fmt.Errorf("s3objects: %s.region is empty", what))
	}
	if b.Endpoint != "" {
		if u, err := url.Parse(b.Endpoint); err != nil || u.Scheme == "" || u.Host == "" {
			errs = append(errs, fmt.Errorf("s3objects: %s.endpoint %q: want a URL such as http://127.0.0.1:9000", what, b.Endpoint))
		}
	}
	if err := blob.ValidCredentialsName(b.Credentials); err != nil {
		errs = append(errs, fmt.Errorf("s3objects: %s.%w", what, err))
	}
	return errors.Join(errs...)
}

func (d Dataset) parse() (*spec.Spec, error) {
	if len(d.Spec) == 0 {
		return nil, errors.New("spec is missing")
	}
	sp, err := spec.Parse(d.Spec)
	if err != nil {
		return nil, err
	}
	if sp.Provider != Name {
		return nil, fmt.Errorf("spec %s: provider %q, want %q", sp.Dataset, sp.Provider, Name)
	}
	if _, ok := contentTypes[sp.Format.Type]; !ok {
		return nil, fmt.Errorf("spec %s: format %q: s3objects reads json_array, ndjson or csv", sp.Dataset, sp.Format.Type)
	}
	if d.Prefix != "" && strings.HasPrefix(d.Prefix, "/") {
		return nil, fmt.Errorf("prefix %q: relative to source.prefix, without a leading '/'", d.Prefix)
	}
	return sp, nil
}
