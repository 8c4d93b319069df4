// Package rest is the declarative HTTP provider: it runs API manifests (manifest.yaml,
// validated against manifest.schema.json) found in provider folders, each as a provider of
// its own name. A manifest declares the base URL, auth, per-key rate limits and streams
// (list endpoint, pagination, record selector, optional per-record detail fan-out,
// incremental cursor); every call goes through the SDK's governed client, and each page
// is checkpointed once emitted so a restarted task goes on from the next page. See
// README.md.
package rest

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"time"

	"github.com/sluice-dev/sluice/internal/apiclient"
	"github.com/sluice-dev/sluice/internal/ratelimit"
	"github.com/sluice-dev/sluice/internal/spec"
	"github.com/sluice-dev/sluice/services/extractor/provider"
)

// Governor quotas of a manifest provider.
const (
	// quotaAPI holds every API call, limited per key (Limits.Rate each).
	quotaAPI = "api"
	// quotaAuth holds OAuth2 token requests.
	quotaAuth = "auth"
	// lookahead is how far ahead the governor reserves a key's slots: catalog walks keep
	// every key busy for hours, and a reservation (a round trip to sluice-limits) every
	// 100 ms (the default) loses the slots that pass while it is made. A longer one
	// amortises it; what it costs is ≤ lookahead of a dead replica's slots.
	lookahead = 400 * time.Millisecond
	// maxKeys bounds the keys of one API; the quota over all keys is maxKeys × Rate, so
	// only the per-key limits bind.
	maxKeys = 64
)

// Config is the --provider-config of a manifest provider: deployment overrides of the
// manifest. Zero fields keep the manifest's values.
type Config struct {
	// BaseURL replaces the manifest's base_url (a staging API, a simulator).
	BaseURL string `json:"base_url,omitempty"`
	// Rate, Burst and Concurrency replace the manifest's per-key limits.
	Rate        float64 `json:"rate,omitempty"`
	Burst       int     `json:"burst,omitempty"`
	Concurrency int     `json:"concurrency,omitempty"`
	// Fixed, when set, replaces the manifest's limits.fixed: false lets the governor find
	// the limit from 429s when the configured rate may be above it.
	Fixed *bool `json:"fixed,omitempty"`
	// Retry replaces the manifest's retry policy.
	Retry Retry `json:"retry,omitempty"`
	// Prefetch is how many list pages may be fetched and not yet emitted (default 2,
	// the page being emitted included): the next page's details fan out while one is
	// finishing, so the keys never idle between pages. A restarted task requests at most
	// these pages again.
	Prefetch int `json:"prefetch,omitempty"`
}

// Validate names the wrong field.
func (c *Config) Validate() error {
	var errs []error
	if c.BaseURL != "" {
		if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("base_url %q: want an http(s) URL", c.BaseURL))
		}
	}
	if c.Rate < 0 || c.Burst < 0 || c.Concurrency < 0 || c.Prefetch < 0 {
		errs = append(errs, errors.New("rate, burst, concurrency and prefetch must not be negative"))
	}
	for name, d := range map[string]string{"retry.initial_backoff": c.Retry.InitialBackoff, "retry.max_backoff": c.Retry.MaxBackoff} {
		if _, err := parseDuration(d); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

func parseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	return time.ParseDuration(s)
}

// MustSpecs is Specs for the extractor's registry: a manifest that does not load is a
// defect of the build, caught by the first test that builds the registry, like any other
// invalid registry entry (extractor.Program panics on those).
func MustSpecs(fsys fs.FS) []provider.Spec {
	specs, err := Specs(fsys)
	if err != nil {
		panic("provider manifests: " + err.Error())
	}
	return specs
}

// Specs returns a provider.Spec for every manifest folder of fsys (see Discover).
func Specs(fsys fs.FS) ([]provider.Spec, error) {
	apis, err := Discover(fsys)
	if err != nil {
		return nil, err
	}
	out := make([]provider.Spec, len(apis))
	for i, a := range apis {
		out[i] = a.Spec()
	}
	return out, nil
}

// Spec is the provider of this API.
func (a *API) Spec() provider.Spec {
	return provider.Spec{
		Name:      a.Manifest.Name,
		NewConfig: func() any { return new(Config) },
		New:       func(cfg any, deps provider.Deps) (provider.Provider, error) { return a.newProvider(cfg, deps) },
		HTTP:      a.httpSpec,
	}
}

// settings are the manifest's values with the configuration's overrides applied.
type settings struct {
	base     *url.URL
	limits   Limits
	retry    Retry
	prefetch int
}

func (a *API) settings(cfg any) (*Config, settings, error) {
	c, ok := cfg.(*Config)
	if !ok {
		return nil, settings{}, fmt.Errorf("%s: config of type %T", a.Manifest.Name, cfg)
	}
	if err := c.Validate(); err != nil {
		return nil, settings{}, fmt.Errorf("%s: %w", a.Manifest.Name, err)
	}
	m := a.Manifest
	s := settings{limits: m.Limits, retry: m.Retry, prefetch: 2}
	raw := m.BaseURL
	if c.BaseURL != "" {
		raw = c.BaseURL
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, s, fmt.Errorf("%s: base_url: %w", m.Name, err)
	}
	s.base = u
	if c.Rate > 0 {
		s.limits.Rate = c.Rate
	}
	if c.Burst > 0 {
		s.limits.Burst = c.Burst
	}
	if c.Concurrency > 0 {
		s.limits.Concurrency = c.Concurrency
	}
	if c.Fixed != nil {
		s.limits.Fixed = *c.Fixed
	}
	if s.limits.Concurrency == 0 {
		s.limits.Concurrency = 4
	}
	if c.Retry != (Retry{}) {
		s.retry = c.Retry
	}
	if c.Prefetch > 0 {
		s.prefetch = c.Prefetch
	}
	return c, s, nil
}

func (a *API) httpSpec(cfg any) (provider.HTTPSpec, error) {
	_, s, err := a.settings(cfg)
	if err != nil {
		return provider.HTTPSpec{}, err
	}
	perKey := ratelimit.Limit{Rate: s.limits.Rate, Burst: s.limits.Burst, Adaptive: ratelimit.Adaptive{Disabled: s.limits.Fixed}}
	lim := ratelimit.Config{Lookahead: lookahead, Quotas: map[string]ratelimit.QuotaConfig{
		quotaAPI:  {Limit: ratelimit.Limit{Rate: s.limits.Rate * maxKeys, Burst: s.limits.Burst * maxKeys, Adaptive: ratelimit.Adaptive{Disabled: true}}, PerKey: &perKey},
		quotaAuth: {Limit: ratelimit.Limit{Rate: 1, Burst: 2}},
	}}
	initial, _ := parseDuration(s.retry.InitialBackoff)
	maxBackoff, _ := parseDuration(s.retry.MaxBackoff)
	hs := provider.HTTPSpec{
		Limits: lim,
		Client: apiclient.Config{Quota: quotaAuth, MaxAttempts: s.retry.MaxAttempts, InitialBackoff: initial, MaxBackoff: maxBackoff},
	}
	auth := a.Manifest.Auth
	hs.Authorizer = func(getenv func(string) string, tokens *http.Client) (apiclient.Authorizer, error) {
		z, err := newAuthorizer(auth, getenv, tokens)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", a.Manifest.Name, err)
		}
		return z, nil
	}
	return hs, nil
}

// restProvider runs one manifest.
type restProvider struct {
	api  *API
	s    settings
	deps provider.Deps
	// keys is the number of API keys; each has its own quota and workers.
	keys int
	// keyIDs name the keys in the governor's per-key state.
	keyIDs []string
}

func (a *API) newProvider(cfg any, deps provider.Deps) (provider.Provider, error) {
	_, s, err := a.settings(cfg)
	if err != nil {
		return nil, err
	}
	name := a.Manifest.Name
	if deps.Services.HTTP == nil || deps.Services.Checkpoints == nil {
		return nil, fmt.Errorf("%s: needs the SDK's HTTP client and checkpoints", name)
	}
	getenv := deps.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	// The secrets were read by the governed client's Authorizer; read them again only to
	// count the keys and name their quotas (never to send them).
	z, err := newAuthorizer(a.Manifest.Auth, getenv, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(z.keys) > maxKeys {
		return nil, fmt.Errorf("%s: auth.secret holds %d keys, at most %d", name, len(z.keys), maxKeys)
	}
	p := &restProvider{api: a, s: s, deps: deps, keys: len(z.keys)}
	for _, k := range z.keys {
		p.keyIDs = append(p.keyIDs, keyID(k))
	}
	if deps.Log == nil {
		p.deps.Log = discardLogger()
	}
	p.deps.Log = p.deps.Log.With("component", "rest", "api", name)
	return p, nil
}

// Datasets returns the specs of the manifest's folder.
func (p *restProvider) Datasets() []*spec.Spec { return p.api.Datasets }
