// Package acme is an example of a provider built outside the sluice repository: it pulls
// hourly meter readings, one task per day, from the (fictional) Acme metering API
// (GET {base_url}/v1/readings?date=YYYY-MM-DD → {"readings": [...]}) through the SDK's
// governed HTTP client. It imports only sluice's public packages.
package acme

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/sluice-dev/sluice/services/extractor/provider"
)

//go:embed datasets/*.json
var datasets embed.FS

// Spec registers the provider: `extractor.Main(acme.Spec)`.
var Spec = provider.Spec{
	Name:      "acme",
	NewConfig: func() any { return DefaultConfig() },
	New:       newProvider,
	HTTP: func(cfg any) (provider.HTTPSpec, error) {
		c := cfg.(*Config)
		return provider.HTTPSpec{Limits: provider.Limits{
			Quotas: map[string]provider.Quota{"api": {Limit: provider.Limit{Rate: c.RequestsPerSecond, Burst: 1}}},
		}}, nil
	},
}

// Config is the provider's --provider-config.
type Config struct {
	BaseURL           string  `json:"base_url"`
	RequestsPerSecond float64 `json:"requests_per_second"`
}

// DefaultConfig is the production API at its documented quota.
func DefaultConfig() *Config {
	return &Config{BaseURL: "https://api.acme.example", RequestsPerSecond: 5}
}

// Validate names the bad field.
func (c *Config) Validate() error {
	if u, err := url.Parse(c.BaseURL); err != nil || u.Host == "" {
		return fmt.Errorf("base_url %q: want an absolute URL", c.BaseURL)
	}
	if c.RequestsPerSecond <= 0 {
		return errors.New("requests_per_second: must be positive")
	}
	return nil
}

type acmeProvider struct {
	cfg      *Config
	http     *provider.HTTPClient
	datasets []*provider.DatasetSpec
}

func newProvider(cfg any, deps provider.Deps) (provider.Provider, error) {
	ds, err := provider.LoadDatasetSpecs(datasets, "datasets/*.json")
	if err != nil {
		return nil, err
	}
	return &acmeProvider{cfg: cfg.(*Config), http: deps.Services.HTTP, datasets: ds}, nil
}

func (p *acmeProvider) Datasets() []*provider.DatasetSpec { return p.datasets }

// Plan makes one task per day of the trigger's window.
func (p *acmeProvider) Plan(_ context.Context, t provider.Trigger) ([]provider.Task, error) {
	var tasks []provider.Task
	for d := t.From; !d.After(t.To); d = d.AddDate(0, 0, 1) {
		day := d.Format(time.DateOnly)
		task, err := provider.NewTask("day", "day="+day, map[string]string{"date": day})
		if err != nil {
			return nil, err
		}
		tasks = append(tasks, task)
	}
	return tasks, nil
}

// Run fetches one day and emits the response as one raw record.
func (p *acmeProvider) Run(ctx context.Context, t provider.Task, emit provider.Emitter) error {
	var params struct{ Date string }
	if err := t.DecodeParams(&params); err != nil {
		return fmt.Errorf("%w: %v", provider.ErrPermanent, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.cfg.BaseURL+"/v1/readings?date="+url.QueryEscape(params.Date), nil)
	if err != nil {
		return err
	}
	resp, err := p.http.Do(ctx, req, provider.WithQuota("api"))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return emit.Emit(ctx, provider.Raw{
		Dataset: "readings", SourceKey: "date=" + params.Date, ContentType: "application/json",
		ContentEncoding: resp.Header.Get("Content-Encoding"), Body: resp.Body,
	})
}
