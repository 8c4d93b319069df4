// Package amazonads is the Amazon Ads reporting (v3) provider: it lists the advertiser
// profiles, requests one DAILY report per profile, report type and window of at most 31
// days, polls until the report is ready, streams the gzipped JSON file and emits its rows
// in records of bounded size. See README.md.
package amazonads

import (
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/sluice-dev/sluice/internal/apiclient"
	"github.com/sluice-dev/sluice/internal/spec"
	"github.com/sluice-dev/sluice/services/extractor/provider"
	"github.com/sluice-dev/sluice/services/extractor/provider/jobs"
)

//go:embed datasets/*.json
var datasetFiles embed.FS

// Spec registers the provider.
var Spec = provider.Spec{
	Name:      providerName,
	NewConfig: func() any { return DefaultConfig() },
	New:       New,
	HTTP:      httpSpec,
}

// providerName is the provider's name: subject token, KV namespace, table prefix.
const providerName = "amazonads"

var errPermanent = provider.ErrPermanent

type amazonAds struct {
	cfg      *Config
	api      *api
	jobs     *jobs.Store
	log      *slog.Logger
	datasets []*spec.Spec
	bytes    metric.Int64Counter
}

func config(cfg any) (*Config, error) {
	c, ok := cfg.(*Config)
	if !ok {
		return nil, fmt.Errorf("amazonads: config of type %T", cfg)
	}
	return c, c.Validate()
}

// downloadHosts are where report files come from: pre-signed S3 URLs
// (offline-report-storage-<region>-prod.s3.amazonaws.com and regional forms).
var downloadHosts = []string{"*.amazonaws.com"}

// httpSpec declares the governed client: the configured limits and the Login with
// Amazon credentials.
func httpSpec(cfg any) (provider.HTTPSpec, error) {
	c, err := config(cfg)
	if err != nil {
		return provider.HTTPSpec{}, err
	}
	return provider.HTTPSpec{
		Limits: c.rateLimits(),
		Client: c.clientConfig(),
		Authorizer: func(getenv func(string) string, tokens *http.Client) (apiclient.Authorizer, error) {
			return newLWA(c, getenv, tokens)
		},
		DownloadHosts: downloadHosts,
	}, nil
}

// New builds the provider; it needs Deps.Services.HTTP and Deps.Services.Jobs.
func New(cfg any, deps provider.Deps) (provider.Provider, error) {
	c, err := config(cfg)
	if err != nil {
		return nil, err
	}
	if deps.Services.HTTP == nil || deps.Services.Jobs == nil {
		return nil, errors.New("amazonads: needs the SDK's HTTP client and jobs store")
	}
	ds, err := loadDatasets()
	if err != nil {
		return nil, err
	}
	log := deps.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	meter := deps.Meter
	if meter == nil {
		meter = noop.NewMeterProvider().Meter("")
	}
	downloaded, err := meter.Int64Counter("sluice.extract.download.bytes", metric.WithUnit("By"),
		metric.WithDescription("Compressed report bytes downloaded."))
	if err != nil {
		return nil, fmt.Errorf("amazonads metrics: %w", err)
	}
	return &amazonAds{
		cfg:      c,
		api:      &api{base: c.APIURL, client: deps.Services.HTTP, routes: c.Limits.Routes},
		jobs:     deps.Services.Jobs,
		log:      log,
		datasets: ds,
		bytes:    downloaded,
	}, nil
}

func loadDatasets() ([]*spec.Spec, error) {
	var out []*spec.Spec
	for _, rt := range reportTypeNames() {
		name := "datasets/" + reports[rt].dataset + ".json"
		data, err := datasetFiles.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("amazonads: %w", err)
		}
		sp, err := spec.Parse(data)
		if err != nil {
			return nil, fmt.Errorf("amazonads: %s: %w", name, err)
		}
		out = append(out, sp)
	}
	return out, nil
}

// Datasets returns the specs of sp_campaigns and sp_ad_groups.
func (p *amazonAds) Datasets() []*spec.Spec { return p.datasets }
