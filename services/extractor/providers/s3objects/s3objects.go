// Package s3objects is the provider of objects in S3 buckets. It discovers objects under
// a prefix by listing (or from S3 event notifications forwarded to NATS), skips those it
// has already seen by key and ETag, and either ingests them as raw records of a dataset
// (JSON, NDJSON, CSV, gzipped or not) without copying them — the object itself is the
// claim check — or, in transfer mode, copies them to another bucket, at another endpoint
// with other credentials if need be (see package transfer).
package s3objects

import (
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/sluice-dev/sluice/internal/apiclient"
	"github.com/sluice-dev/sluice/internal/blob"
	"github.com/sluice-dev/sluice/internal/ratelimit"
	"github.com/sluice-dev/sluice/internal/spec"
	"github.com/sluice-dev/sluice/services/extractor/provider"
	"github.com/sluice-dev/sluice/services/extractor/provider/checkpoint"
	"github.com/sluice-dev/sluice/services/extractor/providers/s3objects/transfer"
)

// Name is the provider's name.
const Name = "s3objects"

// Spec registers the provider.
var Spec = provider.Spec{Name: Name, NewConfig: func() any { return DefaultConfig() }, New: New, HTTP: httpSpec}

//go:embed datasets/transfers.json
var transfersSpec []byte

// TransfersDataset is the dataset of the transfer manifest: one record per object copied.
const TransfersDataset = "transfers"

// Task kinds.
const (
	kindObject = "object"
	kindCopy   = "copy"
)

// contentTypes maps the formats s3objects reads to the content type of their records.
var contentTypes = map[spec.FormatType]string{
	spec.JSONArray: "application/json",
	spec.NDJSON:    "application/x-ndjson",
	spec.CSV:       "text/csv",
}

func config(cfg any) (*Config, error) {
	c, ok := cfg.(*Config)
	if !ok {
		return nil, fmt.Errorf("s3objects: config of type %T", cfg)
	}
	return c, c.Validate()
}

// httpSpec puts every S3 call of the provider under one quota shared by its replicas.
func httpSpec(cfg any) (provider.HTTPSpec, error) {
	c, err := config(cfg)
	if err != nil {
		return provider.HTTPSpec{}, err
	}
	burst := max(1, int(c.RequestsPerSecond/10))
	return provider.HTTPSpec{
		Limits: ratelimit.Config{Quotas: map[string]ratelimit.QuotaConfig{"s3": {Limit: ratelimit.Limit{Rate: c.RequestsPerSecond, Burst: burst}}}},
		// A server-side part copy of a large part answers only when it is done.
		Client: apiclient.Config{Quota: "s3", ResponseHeaderTimeout: 15 * time.Minute},
	}, nil
}

type s3objects struct {
	cfg      *Config
	log      *slog.Logger
	ckpt     *checkpoint.Store
	src      *s3.Client
	dst      *s3.Client
	copier   *transfer.Copier
	datasets []*spec.Spec
	byPrefix []prefixed
	metrics  metrics
}

type prefixed struct {
	prefix string
	spec   *spec.Spec
}

// New builds the provider; it needs the SDK's HTTP client and checkpoints.
func New(cfg any, deps provider.Deps) (provider.Provider, error) {
	c, err := config(cfg)
	if err != nil {
		return nil, err
	}
	if deps.Services.HTTP == nil || deps.Services.Checkpoints == nil {
		return nil, errors.New("s3objects: needs the SDK's HTTP client and checkpoints")
	}
	log := deps.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	getenv := deps.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	meter := deps.Meter
	if meter == nil {
		meter = noop.NewMeterProvider().Meter(Name)
	}
	p := &s3objects{cfg: c, log: log.With("component", Name), ckpt: deps.Services.Checkpoints}
	if p.metrics, err = newMetrics(meter); err != nil {
		return nil, err
	}
	httpc := deps.Services.HTTP.HTTPClient()
	if p.src, err = client(c.Source, getenv, httpc); err != nil {
		return nil, fmt.Errorf("s3objects: source: %w", err)
	}
	for _, d := range c.Datasets {
		sp, _ := d.parse() // validated
		p.datasets = append(p.datasets, sp)
		p.byPrefix = append(p.byPrefix, prefixed{prefix: c.Source.Prefix + d.Prefix, spec: sp})
	}
	if c.Target != nil {
		if p.dst, err = client(*c.Target, getenv, httpc); err != nil {
			return nil, fmt.Errorf("s3objects: target: %w", err)
		}
		tr, err := spec.Parse(transfersSpec)
		if err != nil {
			return nil, fmt.Errorf("s3objects: transfers spec: %w", err)
		}
		p.datasets = append(p.datasets, tr)
		// One endpoint and one set of keys: the target can read the source, so parts are
		// copied on the server and no byte passes through this process.
		server := c.Target.Endpoint == c.Source.Endpoint && c.Target.Credentials == c.Source.Credentials
		p.copier, err = transfer.NewCopier(transfer.Side{Client: p.src, Bucket: c.Source.Bucket}, transfer.Side{Client: p.dst, Bucket: c.Target.Bucket},
			c.Transfer, server, p.metrics.observer(), p.log)
		if err != nil {
			return nil, err
		}
	}
	return p, nil
}

func client(b Bucket, getenv func(string) string, httpc *http.Client) (*s3.Client, error) {
	ak, sk, err := blob.LoadCredentials(getenv, b.Credentials)
	if err != nil {
		return nil, err
	}
	if ak == "" {
		av, sv := blob.CredentialsEnv(b.Credentials)
		return nil, fmt.Errorf("no credentials for s3://%s: set %s and %s (or their _FILE variants)", b.Bucket, av, sv)
	}
	return blob.NewClient(blob.Endpoint{URL: b.Endpoint, Region: b.Region, AccessKey: ak, SecretKey: sk, HTTP: httpc}), nil
}

func (p *s3objects) Datasets() []*spec.Spec { return p.datasets }

// metrics are the transfer's progress counters.
type metrics struct {
	bytes metric.Int64Counter
	parts metric.Int64Counter
}

func newMetrics(m metric.Meter) (metrics, error) {
	var out metrics
	var err error
	if out.bytes, err = m.Int64Counter("sluice.transfer.bytes", metric.WithDescription("bytes copied by transfers (mode single, server-copy or stream; resumed: found already uploaded)"), metric.WithUnit("By")); err != nil {
		return out, err
	}
	if out.parts, err = m.Int64Counter("sluice.transfer.parts", metric.WithDescription("parts copied by transfers, and parts a resumed copy found already uploaded (outcome resumed)")); err != nil {
		return out, err
	}
	return out, nil
}
