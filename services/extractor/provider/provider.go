// Package provider is the contract between sluice and a provider team, and everything a
// provider gets for free: task distribution over the TASKS stream, record envelopes with
// deterministic ids, claim checks to S3, tracing, metrics, rate-limited HTTP, durable job
// tracking and checkpoints. A provider writes Plan and Run; the SDK does the rest.
package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/sluice-dev/sluice/internal/ratelimit"
	"github.com/sluice-dev/sluice/internal/spec"
)

// Spec registers a provider in the extractor's one list.
type Spec struct {
	// Name is the provider name: NATS subject token, collection and table prefix.
	Name string
	// NewConfig returns a pointer to the provider's configuration with its defaults set; the
	// extractor decodes --provider-config (JSON) into it. It may implement Validate() error.
	NewConfig func() any
	// New builds the provider from its decoded configuration.
	New func(cfg any, deps Deps) (Provider, error)
	// HTTP, when set, declares the provider's rate-governed HTTP client (limits, retries,
	// credentials) from its decoded configuration; the SDK builds it and hands it to New
	// as Deps.Services.HTTP. A provider that calls an HTTP API must set it.
	HTTP func(cfg any) (HTTPSpec, error)
	// Limits, when set, declares the shared limits of a provider whose calls are not HTTP
	// (SQL queries, object-store requests): the SDK builds a governor over them whose
	// quotas and per-host concurrency caps are shared by every replica, and hands it to
	// New as Deps.Services.Limits.
	Limits func(cfg any) (ratelimit.Config, error)
}

// Provider is what a provider team implements.
//
// Concurrency: the SDK calls Run for many tasks at once, from any replica; Plan and Run
// must be safe for concurrent use. Cancellation: when ctx is cancelled, stop promptly and
// return ctx.Err(); the task is redelivered, to this or another replica.
type Provider interface {
	// Datasets returns the specs of the provider's datasets; they are registered in the
	// sluice-specs bucket when the extractor starts.
	Datasets() []*spec.Spec
	// Plan turns a trigger into tasks. It must be deterministic for a trigger: task keys
	// are dedupe ids, so re-planning the same run publishes nothing twice.
	Plan(ctx context.Context, t Trigger) ([]Task, error)
	// Run performs one task and emits its raw records. A task may run again after a crash
	// or a redelivery: use Deps.Jobs and Deps.Checkpoints to resume instead of redoing,
	// and emit deterministic source keys so re-emitted records dedupe.
	Run(ctx context.Context, t Task, emit Emitter) error
}

// Trigger starts a run: from the CLI, a schedule or an event.
type Trigger struct {
	RunID string `json:"run_id"`
	// Source is "cli", "schedule" or "event".
	Source string    `json:"source"`
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`
	// Params are provider-defined, e.g. {"profile": "123"} for an event about one profile.
	Params map[string]string `json:"params,omitempty"`
	// Body is an event's body as it was sent, for providers that take events in a
	// foreign format (e.g. S3 event notifications); empty for other triggers.
	Body json.RawMessage `json:"body,omitempty"`
}

// Task is a unit of extraction work.
type Task struct {
	RunID string `json:"-"`
	// Kind is provider-defined, e.g. "report".
	Kind string `json:"kind"`
	// Key identifies the task inside its run, e.g. "profile=123/2024-06-01..2024-07-01".
	Key string `json:"key"`
	// Params is provider-defined JSON.
	Params json.RawMessage `json:"params,omitempty"`
}

// DecodeParams unmarshals the task's params into v.
func (t Task) DecodeParams(v any) error {
	if err := json.Unmarshal(t.Params, v); err != nil {
		return fmt.Errorf("task %s: params: %w", t.Key, err)
	}
	return nil
}

// NewTask builds a task with params encoded as JSON.
func NewTask(kind, key string, params any) (Task, error) {
	data, err := json.Marshal(params)
	if err != nil {
		return Task{}, fmt.Errorf("task %s: encode params: %w", key, err)
	}
	return Task{Kind: kind, Key: key, Params: data}, nil
}

// Raw is one raw payload as a provider returned it.
type Raw struct {
	Dataset string
	// SourceKey says where in the provider the payload came from (profile, window, part):
	// stable across runs, so the same bytes get the same record id.
	SourceKey string
	// ContentType of the decoded payload, e.g. application/json.
	ContentType string
	// ContentEncoding of Body as given: "", "gzip" or "zstd" (the transformer decodes both).
	ContentEncoding string
	// Body is read to the end by Emit; large bodies are streamed to S3, never held whole.
	Body io.Reader
	// Object, set instead of Body, is a payload that already lies in S3 (provider
	// s3objects): the object itself becomes the claim check, nothing is read or copied,
	// and readers fetch exactly the version it names.
	Object     *ObjectRef
	Attributes map[string]string
	// DataVersion orders versions of the same data by the source's own clock or sequence,
	// so the loader keeps the newest data whenever each was extracted: a report's
	// generation time or a row's updated_at as unix nanoseconds, or a change sequence.
	// Leave it 0 when the source has none: the loader then orders by extraction time,
	// which a late-resumed old extraction or a skewed clock can get wrong. Each provider
	// documents its choice in its README.
	DataVersion int64
}

// ObjectRef names one version of an object in S3 (see Raw.Object).
type ObjectRef struct {
	// Endpoint and Region locate the S3 service (empty endpoint: AWS).
	Endpoint, Region string
	// Credentials names the keys readers use (SLUICE_S3_<NAME>_ACCESS_KEY and
	// _SECRET_KEY, or their _FILE variants; empty: the service's own).
	Credentials string
	Bucket, Key string
	// VersionID (versioned buckets) or else ETag pins the bytes.
	VersionID, ETag string
	Size            int64
}

// Emitter publishes raw records; safe for concurrent use.
type Emitter interface {
	Emit(ctx context.Context, r Raw) error
}

// Deps is what the SDK hands a provider.
type Deps struct {
	Log   *slog.Logger
	Meter metric.Meter
	// Getenv reads the provider's secrets (e.g. SLUICE_AMAZONADS_REFRESH_TOKEN).
	Getenv func(string) string
	// Services gives access to the rate-governed HTTP client, jobs and checkpoints.
	Services Services
}

// ErrPermanent is wrapped by task errors that retrying cannot fix.
var ErrPermanent = errors.New("permanent task failure")
