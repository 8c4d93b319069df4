package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/sluice-dev/sluice/internal/bus"
)

// ErrNotFound is returned by Get for a job that was never recorded.
var ErrNotFound = errors.New("job not found")

// ErrConflict is wrapped when a job changed since it was read (another replica wrote).
var ErrConflict = errors.New("job changed concurrently")

// Config tunes a Store. Zero fields take the defaults.
type Config struct {
	// ClaimTTL is how long a claim to request a report protects it: a replica that finds
	// a younger claim without a report id waits for it, an older one is taken over (its
	// owner died between claiming and recording the id). The owner renews the claim
	// while its request waits and runs. Default 30 s.
	ClaimTTL time.Duration
	// URLMargin is how long before its expiry a download url is refreshed. Default 10s.
	URLMargin time.Duration
}

func (c Config) withDefaults() Config {
	if c.ClaimTTL <= 0 {
		c.ClaimTTL = 30 * time.Second
	}
	if c.URLMargin <= 0 {
		c.URLMargin = 10 * time.Second
	}
	return c
}

// Store keeps the jobs of one provider in a key-value bucket. It is safe for concurrent
// use.
type Store struct {
	kv       jetstream.KeyValue
	provider string
	cfg      Config
	log      *slog.Logger
	statuses metric.Int64Counter
}

// New returns the job store of provider in kv (the sluice-jobs bucket); meter and log may
// be nil.
func New(kv jetstream.KeyValue, provider string, cfg Config, meter metric.Meter, log *slog.Logger) (*Store, error) {
	if kv == nil {
		return nil, errors.New("jobs: a key-value bucket is required")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if meter == nil {
		meter = noop.NewMeterProvider().Meter("")
	}
	c, err := meter.Int64Counter("sluice.extract.jobs",
		metric.WithDescription("Async report jobs entering each status (REQUESTING, PENDING, PROCESSING, COMPLETED, FAILED, DONE)."),
		metric.WithUnit("{job}"))
	if err != nil {
		return nil, fmt.Errorf("jobs metrics: %w", err)
	}
	return &Store{kv: kv, provider: provider, cfg: cfg.withDefaults(), log: log.With("component", "jobs"), statuses: c}, nil
}

// Key builds a job key of the provider from parts (run id, profile, report type, window
// …). Characters a bucket key cannot hold become '_'.
func (s *Store) Key(parts ...string) string {
	return bus.KVKey(append([]string{s.provider}, parts...)...)
}

// Get reads a job.
func (s *Store) Get(ctx context.Context, key string) (Job, error) {
	e, err := s.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Job{}, fmt.Errorf("job %s: %w", key, ErrNotFound)
	}
	if err != nil {
		return Job{}, fmt.Errorf("read job %s: %w", key, err)
	}
	var j Job
	if err := json.Unmarshal(e.Value(), &j); err != nil {
		return Job{}, fmt.Errorf("decode job %s: %w", key, err)
	}
	j.Key, j.Revision, j.readStatus = key, e.Revision(), j.Status
	return j, nil
}

// create records a new job; it fails with ErrConflict when the key exists.
func (s *Store) create(ctx context.Context, j Job) (Job, error) {
	now := time.Now().UTC()
	j.CreatedAt, j.UpdatedAt = now, now
	data, err := json.Marshal(j)
	if err != nil {
		return j, fmt.Errorf("encode job %s: %w", j.Key, err)
	}
	rev, err := s.kv.Create(ctx, j.Key, data)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return j, fmt.Errorf("create job %s: %w", j.Key, ErrConflict)
	}
	if err != nil {
		return j, fmt.Errorf("create job %s: %w", j.Key, err)
	}
	j.Revision, j.readStatus = rev, j.Status
	s.count(ctx, j.Status)
	return j, nil
}

// Save writes j if nobody changed it since it was read (compare-and-set on j.Revision)
// and returns it with its new revision.
func (s *Store) Save(ctx context.Context, j Job) (Job, error) {
	j.UpdatedAt = time.Now().UTC()
	data, err := json.Marshal(j)
	if err != nil {
		return j, fmt.Errorf("encode job %s: %w", j.Key, err)
	}
	rev, err := s.kv.Update(ctx, j.Key, data, j.Revision)
	if err != nil {
		if isConflict(err) {
			return j, fmt.Errorf("save job %s: %w", j.Key, ErrConflict)
		}
		return j, fmt.Errorf("save job %s: %w", j.Key, err)
	}
	j.Revision = rev
	if j.Status != j.readStatus {
		s.count(ctx, j.Status)
	}
	j.readStatus = j.Status
	return j, nil
}

func (s *Store) count(ctx context.Context, st Status) {
	s.statuses.Add(ctx, 1, metric.WithAttributes(attribute.String("provider", s.provider), attribute.String("status", string(st))))
}

// isConflict reports whether a compare-and-set write lost to another writer.
func isConflict(err error) bool {
	if errors.Is(err, jetstream.ErrKeyExists) {
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence
}
