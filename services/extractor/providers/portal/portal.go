// Package portal crawls partner report portals: it signs in (a form, or headless
// Chromium where the login page needs JavaScript), walks the report listings, and
// downloads every report (CSV, HTML tables, JSON) as one raw record, at most
// HostConcurrency requests at once per sub-domain over every replica. Parsing and
// normalizing are dataset specs, so they change with a new spec version and a replay,
// never with a new crawl. See README.md.
package portal

import (
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/sluice-dev/sluice/internal/spec"
	"github.com/sluice-dev/sluice/services/extractor/provider"
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

const providerName = "portal"

var errPermanent = provider.ErrPermanent

type crawler struct {
	cfg      *Config
	log      *slog.Logger
	sessions map[string]*session // by host
	order    []string            // hosts in configuration order
	datasets []*spec.Spec
}

func config(cfg any) (*Config, error) {
	c, ok := cfg.(*Config)
	if !ok {
		return nil, fmt.Errorf("portal: config of type %T", cfg)
	}
	return c, c.Validate()
}

// httpSpec declares the governed client: a shared rate, the per-sub-domain cap, and the
// transport through the egress proxy and pinned addresses.
func httpSpec(cfg any) (provider.HTTPSpec, error) {
	c, err := config(cfg)
	if err != nil {
		return provider.HTTPSpec{}, err
	}
	return provider.HTTPSpec{Limits: c.rateLimits(), Client: c.clientConfig(), Transport: c.transport()}, nil
}

// New builds the provider; it needs Deps.Services.HTTP.
func New(cfg any, deps provider.Deps) (provider.Provider, error) {
	c, err := config(cfg)
	if err != nil {
		return nil, err
	}
	if deps.Services.HTTP == nil {
		return nil, errors.New("portal: needs the SDK's HTTP client")
	}
	ds, err := loadDatasets()
	if err != nil {
		return nil, err
	}
	log := deps.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	getenv := deps.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	b := &browser{path: c.Chromium.Path, timeout: time.Duration(c.Chromium.Timeout), proxy: c.Proxy, resolve: c.Resolve}
	p := &crawler{cfg: c, log: log.With("component", "portal"), sessions: map[string]*session{}, datasets: ds}
	for _, pc := range c.Portals {
		p.sessions[pc.host()] = newSession(pc, deps.Services.HTTP, getenv, b)
		p.order = append(p.order, pc.host())
	}
	return p, nil
}

// datasetNames are the provider's datasets: one per report kind, and the daily
// normalizer over the settlement reports.
var datasetNames = []string{dsSettlement, dsInventory, dsTraffic, dsDailySettlement}

const (
	dsSettlement      = "settlement"
	dsInventory       = "inventory"
	dsTraffic         = "traffic"
	dsDailySettlement = "daily_settlement"
)

// kindDatasets says which datasets a report kind is emitted to: every dataset that reads
// it gets the same bytes under the same source key.
var kindDatasets = map[string][]string{
	"settlement": {dsSettlement, dsDailySettlement},
	"inventory":  {dsInventory},
	"traffic":    {dsTraffic},
}

func loadDatasets() ([]*spec.Spec, error) {
	var out []*spec.Spec
	for _, name := range datasetNames {
		file := "datasets/" + name + ".json"
		data, err := datasetFiles.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("portal: %w", err)
		}
		sp, err := spec.Parse(data)
		if err != nil {
			return nil, fmt.Errorf("portal: %s: %w", file, err)
		}
		out = append(out, sp)
	}
	return out, nil
}

// Datasets returns the specs of the report kinds and of the daily normalizer.
func (p *crawler) Datasets() []*spec.Spec { return p.datasets }
