package bus

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ProvisionConfig sizes the streams and buckets.
type ProvisionConfig struct {
	// Replicas of every stream and bucket (1 on a single server, 3 in a cluster).
	Replicas int
	// Retention of RAW, STAGED and ROWS messages.
	MaxAge time.Duration
	// DLQMaxAge is how long dead letters are kept.
	DLQMaxAge time.Duration
	// DuplicateWindow is how long a Nats-Msg-Id is remembered for publish dedupe.
	DuplicateWindow time.Duration
}

// DefaultProvision suits a single local server.
func DefaultProvision() ProvisionConfig {
	return ProvisionConfig{Replicas: 1, MaxAge: 7 * 24 * time.Hour, DLQMaxAge: 30 * 24 * time.Hour, DuplicateWindow: 10 * time.Minute}
}

// Validate names the wrong field.
func (c ProvisionConfig) Validate() error {
	switch {
	case c.Replicas < 1 || c.Replicas > 5:
		return fmt.Errorf("provision: replicas %d: must be 1..5", c.Replicas)
	case c.MaxAge <= 0 || c.DLQMaxAge <= 0:
		return fmt.Errorf("provision: max age must be positive")
	case c.DuplicateWindow <= 0 || c.DuplicateWindow > c.MaxAge:
		return fmt.Errorf("provision: duplicate window %v: must be positive and at most max age", c.DuplicateWindow)
	}
	return nil
}

// Provision creates or updates every stream and bucket sluice uses. It is idempotent, so
// every service calls it at start and the Helm hook calls it before an upgrade.
func Provision(ctx context.Context, js jetstream.JetStream, cfg ProvisionConfig) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	streams := []jetstream.StreamConfig{
		{Name: StreamTasks, Subjects: []string{"sluice.task.>"}, Retention: jetstream.WorkQueuePolicy, MaxAge: cfg.MaxAge},
		{Name: StreamRaw, Subjects: []string{"sluice.raw.>"}, MaxAge: cfg.MaxAge},
		{Name: StreamStaged, Subjects: []string{"sluice.staged.>"}, MaxAge: cfg.MaxAge},
		{Name: StreamRows, Subjects: []string{"sluice.rows.>"}, MaxAge: cfg.MaxAge},
		{Name: StreamDLQ, Subjects: []string{"sluice.dlq.>"}, MaxAge: cfg.DLQMaxAge},
		// Events are work: one durable consumer per provider takes each event once and
		// the stream forgets it, so recreating a consumer replays nothing already planned.
		{Name: StreamEvents, Subjects: []string{"sluice.event.>"}, Retention: jetstream.WorkQueuePolicy, MaxAge: cfg.MaxAge},
	}
	for _, sc := range streams {
		sc.Storage = jetstream.FileStorage
		sc.Replicas = cfg.Replicas
		sc.Duplicates = cfg.DuplicateWindow
		sc.Discard = jetstream.DiscardOld
		if _, err := js.CreateOrUpdateStream(ctx, sc); err != nil {
			return fmt.Errorf("provision stream %s: %w", sc.Name, err)
		}
	}
	buckets := []jetstream.KeyValueConfig{
		{Bucket: BucketSpecs, Description: "dataset specs", History: 16},
		{Bucket: BucketLimits, Description: "shared rate-limit state", History: 1},
		{Bucket: BucketJobs, Description: "async report jobs in flight", History: 4},
		{Bucket: BucketCheckpoints, Description: "extraction cursors", History: 4},
		// Entries outlive any message they describe: a message is gone after MaxAge.
		{Bucket: BucketDeliveries, Description: "failures and hand-backs of redelivered messages", History: 1, TTL: cfg.MaxAge},
	}
	for _, kc := range buckets {
		kc.Storage = jetstream.FileStorage
		kc.Replicas = cfg.Replicas
		if _, err := js.CreateOrUpdateKeyValue(ctx, kc); err != nil {
			return fmt.Errorf("provision bucket %s: %w", kc.Bucket, err)
		}
	}
	return nil
}
