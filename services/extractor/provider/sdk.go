package provider

import (
	"fmt"
	"io/fs"

	"github.com/sluice-dev/sluice/internal/apiclient"
	"github.com/sluice-dev/sluice/internal/ratelimit"
	"github.com/sluice-dev/sluice/internal/spec"
)

// The types below are the whole provider-facing API of sluice's shared libraries. They are
// aliases, so a provider in another module (which cannot import sluice's internal
// packages) names them here, and values pass to and from the SDK unchanged.

// Dataset specs: how a dataset's raw payloads become rows (see schemas/dataset-spec.schema.json).
type (
	// DatasetSpec is one dataset of a provider; Provider.Datasets returns them.
	DatasetSpec = spec.Spec
	// Column is one column of a dataset's table and the CEL expression computing it.
	Column = spec.Column
	// Format says how rows are found in a payload.
	Format = spec.Format
	// Rule is a validation rule over computed rows.
	Rule = spec.Rule
	// ColumnType is the type of a column (text, bigint, numeric, timestamptz, jsonb, …).
	ColumnType = spec.Type
)

// ParseDatasetSpec decodes and validates a JSON dataset spec (CEL expressions included);
// errors name the field.
func ParseDatasetSpec(data []byte) (*DatasetSpec, error) { return spec.Parse(data) }

// LoadDatasetSpecs parses every file of fsys matching pattern (e.g. an embed.FS and
// "datasets/*.json"), naming the file in errors.
func LoadDatasetSpecs(fsys fs.FS, pattern string) ([]*DatasetSpec, error) {
	names, err := fs.Glob(fsys, pattern)
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no dataset specs match %s", pattern)
	}
	out := make([]*DatasetSpec, 0, len(names))
	for _, n := range names {
		data, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, err
		}
		s, err := spec.Parse(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n, err)
		}
		out = append(out, s)
	}
	return out, nil
}

// Rate limits a provider declares in HTTPSpec.Limits, shared by all its replicas.
type (
	// Limits are the provider's quotas, per-key limits and per-host concurrency caps.
	Limits = ratelimit.Config
	// Quota is one named rate limit.
	Quota = ratelimit.QuotaConfig
	// Limit is a rate with its burst and adaptive behaviour.
	Limit = ratelimit.Limit
	// Adaptive tunes how a limit reacts to 429s.
	Adaptive = ratelimit.Adaptive
	// Governor is Services.Limits: the shared limits of a provider whose calls are not HTTP
	// (a SQL source, an object store); Acquire a permit around each call.
	Governor = ratelimit.Governor
	// LimitRequest says what a call counts against (quota, key, host slot).
	LimitRequest = ratelimit.Request
	// Permit is an admitted call; release it with the call's Outcome when the call ends.
	Permit = ratelimit.Permit
	// Outcome tells the governor how a call went (success, throttled, failed).
	Outcome = ratelimit.Outcome
)

// Outcome kinds for Permit.Release.
const (
	Success   = ratelimit.Success
	Throttled = ratelimit.Throttled
	Failed    = ratelimit.Failed
)

// The governed HTTP client (Services.HTTP) and how a provider tunes and calls it.
type (
	// HTTPClient is the rate-governed client; every HTTP call of a provider goes through it.
	HTTPClient = apiclient.Client
	// HTTPConfig tunes retries and backoff.
	HTTPConfig = apiclient.Config
	// Authorizer adds credentials to requests and refreshes them on 401.
	Authorizer = apiclient.Authorizer
	// CallOption says which quota, key or host a call counts against.
	CallOption = apiclient.CallOption
	// StatusError is an HTTP answer the client gave up on (status, body excerpt).
	StatusError = apiclient.StatusError
)

// WithQuota makes a call draw from the named quota.
func WithQuota(quota string) CallOption { return apiclient.WithQuota(quota) }

// WithKey makes a call also count against the per-key limit of key (e.g. an account).
func WithKey(key string) CallOption { return apiclient.WithKey(key) }

// WithHost makes a call hold one of the host's concurrency slots while it runs.
func WithHost(host string) CallOption { return apiclient.WithHost(host) }
