package amazonads

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/sluice-dev/sluice/internal/apiclient"
	"github.com/sluice-dev/sluice/internal/ratelimit"
	"github.com/sluice-dev/sluice/services/extractor/provider/download"
	"github.com/sluice-dev/sluice/services/extractor/provider/jobs"
)

// Call classes: every call the provider makes belongs to one, and Limits.Routes says which
// quota it draws from.
const (
	ClassToken    = "token"
	ClassProfiles = "profiles"
	ClassCreate   = "create"
	ClassStatus   = "status"
	ClassDownload = "download"
)

var classes = []string{ClassToken, ClassProfiles, ClassCreate, ClassStatus, ClassDownload}

// downloadHost is the concurrency group of report downloads (pre-signed S3 urls).
const downloadHost = "report-downloads"

// Config configures the provider (the extractor's --provider-config, JSON). Zero or
// missing fields take the defaults of DefaultConfig.
type Config struct {
	// APIURL is the advertising API, e.g. https://advertising-api.amazon.com (NA),
	// https://advertising-api-eu.amazon.com (EU), or a simulator.
	APIURL string `json:"api_url"`
	// TokenURL is the Login with Amazon token endpoint.
	TokenURL string `json:"token_url"`
	// ReportTypes are the reports extracted per profile and window (see Reports).
	ReportTypes []string `json:"report_types"`
	// WindowDays is the longest date range of one report (the API allows 31).
	WindowDays int `json:"window_days"`
	// LookbackDays: scheduled and event runs re-extract this many days up to their last
	// day, because data keeps changing for up to 14 days (attribution).
	LookbackDays int `json:"lookback_days"`
	// RetentionDays: the API keeps this many days; older days are not requested.
	RetentionDays int `json:"retention_days"`
	// Poll spaces status calls of a report.
	Poll Poll `json:"poll"`
	// MaxReportAttempts bounds new requests of a report the API reported FAILED.
	MaxReportAttempts int `json:"max_report_attempts"`
	// MaxDownloadAttempts bounds downloads of one report within one task attempt
	// (truncated files, gzip bombs, expired urls); the task itself is then retried.
	MaxDownloadAttempts int `json:"max_download_attempts"`
	// Download limits one report file; Records sizes the records it is split into.
	Download download.Limits   `json:"download"`
	Records  download.Chunking `json:"records"`
	// Limits are the rate limits shared by every replica.
	Limits Limits `json:"limits"`
	// Retry tunes retries of one call (5xx, timeouts, 429).
	Retry Retry `json:"retry"`
}

// Poll is the polling policy (jobs.PollPolicy with readable durations).
type Poll struct {
	Initial    Duration `json:"initial"`
	Max        Duration `json:"max"`
	Multiplier float64  `json:"multiplier"`
	Jitter     float64  `json:"jitter"`
}

// Policy converts p.
func (p Poll) Policy() jobs.PollPolicy {
	return jobs.PollPolicy{Initial: time.Duration(p.Initial), Max: time.Duration(p.Max), Multiplier: p.Multiplier, Jitter: p.Jitter}
}

// Limits are the provider's rate limits.
type Limits struct {
	// Quotas by name.
	Quotas map[string]Quota `json:"quotas"`
	// Routes maps each call class (token, profiles, create, status, download) to a quota.
	Routes map[string]string `json:"routes"`
	// DownloadConcurrency caps simultaneous report downloads over all replicas; it bounds
	// their memory and bandwidth. 0 means no cap.
	DownloadConcurrency int `json:"download_concurrency"`
}

// Quota is one shared rate limit.
type Quota struct {
	// Rate is the ceiling in calls per second over all replicas.
	Rate  float64 `json:"rate"`
	Burst int     `json:"burst,omitempty"`
	// StartRate is where the adaptive rate starts (default Rate).
	StartRate float64 `json:"start_rate,omitempty"`
	// PerProfileRate, when set, also limits calls per advertiser profile.
	PerProfileRate  float64 `json:"per_profile_rate,omitempty"`
	PerProfileBurst int     `json:"per_profile_burst,omitempty"`
	// Fixed keeps the rate fixed instead of adapting to 429s.
	Fixed bool `json:"fixed,omitempty"`
}

// Retry tunes apiclient's retries.
type Retry struct {
	MaxAttempts    int      `json:"max_attempts"`
	MaxElapsed     Duration `json:"max_elapsed"`
	InitialBackoff Duration `json:"initial_backoff"`
	MaxBackoff     Duration `json:"max_backoff"`
}

// DefaultConfig talks to the North America API with limits below the commonly observed
// ones: a few calls per second per profile.
func DefaultConfig() *Config {
	return &Config{
		APIURL:              "https://advertising-api.amazon.com",
		TokenURL:            "https://api.amazon.com/auth/o2/token",
		ReportTypes:         []string{ReportSPCampaigns, ReportSPAdGroups},
		WindowDays:          31,
		LookbackDays:        14,
		RetentionDays:       95,
		Poll:                Poll{Initial: Duration(20 * time.Second), Max: Duration(5 * time.Minute), Multiplier: 1.5, Jitter: 0.5},
		MaxReportAttempts:   3,
		MaxDownloadAttempts: 3,
		Records:             download.Chunking{MaxRows: 1000, MaxBytes: 256 << 10},
		Limits: Limits{
			Quotas: map[string]Quota{
				ClassToken:    {Rate: 1},
				ClassProfiles: {Rate: 1},
				ClassCreate:   {Rate: 8, PerProfileRate: 1},
				ClassStatus:   {Rate: 16, PerProfileRate: 4},
				ClassDownload: {Rate: 50, Fixed: true},
			},
			Routes: map[string]string{
				ClassToken: ClassToken, ClassProfiles: ClassProfiles, ClassCreate: ClassCreate,
				ClassStatus: ClassStatus, ClassDownload: ClassDownload,
			},
			DownloadConcurrency: 8,
		},
		Retry: Retry{MaxAttempts: 8, MaxElapsed: Duration(10 * time.Minute)},
	}
}

// Validate names every wrong field.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("amazonads: "+format, args...)) }
	for name, raw := range map[string]string{"api_url": c.APIURL, "token_url": c.TokenURL} {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("%s %q: want an http(s) URL", name, raw)
		}
	}
	if len(c.ReportTypes) == 0 {
		bad("report_types: at least one is required (%s)", strings.Join(reportTypeNames(), ", "))
	}
	for _, rt := range c.ReportTypes {
		if _, ok := reports[rt]; !ok {
			bad("report_types: %q is not supported (supported: %s)", rt, strings.Join(reportTypeNames(), ", "))
		}
	}
	if c.WindowDays < 1 || c.WindowDays > 31 {
		bad("window_days %d: must be 1..31 (the API's longest report)", c.WindowDays)
	}
	if c.LookbackDays < 1 {
		bad("lookback_days %d: must be at least 1", c.LookbackDays)
	}
	if c.RetentionDays < 2 {
		bad("retention_days %d: must be at least 2", c.RetentionDays)
	}
	if err := c.Poll.Policy().Validate(); err != nil {
		bad("poll: %v", err)
	}
	if c.MaxReportAttempts < 1 {
		bad("max_report_attempts %d: must be at least 1", c.MaxReportAttempts)
	}
	if c.MaxDownloadAttempts < 1 {
		bad("max_download_attempts %d: must be at least 1", c.MaxDownloadAttempts)
	}
	if err := c.Download.Validate(); err != nil {
		bad("download: %v", err)
	}
	if c.Records.MaxRows < 0 || c.Records.MaxBytes < 0 {
		bad("records: sizes must not be negative")
	}
	for _, class := range classes {
		q, ok := c.Limits.Routes[class]
		if !ok {
			bad("limits.routes: no quota for call class %q", class)
			continue
		}
		if _, ok := c.Limits.Quotas[q]; !ok {
			bad("limits.routes[%q]: quota %q is not in limits.quotas", class, q)
		}
	}
	for class := range c.Limits.Routes {
		if !slices.Contains(classes, class) {
			bad("limits.routes: unknown call class %q (known: %s)", class, strings.Join(classes, ", "))
		}
	}
	if c.Limits.DownloadConcurrency < 0 {
		bad("limits.download_concurrency %d: must not be negative", c.Limits.DownloadConcurrency)
	}
	if err := c.rateLimits().Validate(); err != nil {
		bad("limits: %v", err)
	}
	if c.Retry.MaxAttempts < 0 || c.Retry.MaxElapsed < 0 {
		bad("retry: values must not be negative")
	}
	return errors.Join(errs...)
}

// rateLimits is the governor configuration of the limits (without namespace).
func (c *Config) rateLimits() ratelimit.Config {
	rc := ratelimit.Config{Namespace: providerName, Quotas: map[string]ratelimit.QuotaConfig{}}
	names := make([]string, 0, len(c.Limits.Quotas))
	for n := range c.Limits.Quotas {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		q := c.Limits.Quotas[n]
		qc := ratelimit.QuotaConfig{Limit: ratelimit.Limit{Rate: q.Rate, Burst: q.Burst, StartRate: q.StartRate,
			Adaptive: ratelimit.Adaptive{Disabled: q.Fixed}}}
		if q.PerProfileRate > 0 {
			qc.PerKey = &ratelimit.Limit{Rate: q.PerProfileRate, Burst: q.PerProfileBurst, Adaptive: ratelimit.Adaptive{Disabled: q.Fixed}}
		}
		rc.Quotas[n] = qc
	}
	if c.Limits.DownloadConcurrency > 0 {
		rc.Hosts = map[string]int{downloadHost: c.Limits.DownloadConcurrency}
	}
	return rc
}

// clientConfig is apiclient's configuration: calls without an explicit quota (the token
// endpoint) draw from the token route.
func (c *Config) clientConfig() apiclient.Config {
	return apiclient.Config{
		Quota:          c.Limits.Routes[ClassToken],
		MaxAttempts:    c.Retry.MaxAttempts,
		MaxElapsed:     time.Duration(c.Retry.MaxElapsed),
		InitialBackoff: time.Duration(c.Retry.InitialBackoff),
		MaxBackoff:     time.Duration(c.Retry.MaxBackoff),
	}
}

// Duration is a time.Duration written as "30s" in JSON (a number is nanoseconds).
type Duration time.Duration

// MarshalJSON writes d as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads "30s" or a number of nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("duration %q: %w", s, err)
		}
		*d = Duration(v)
		return nil
	}
	var n int64
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("duration %s: want a string like \"30s\"", b)
	}
	*d = Duration(n)
	return nil
}
