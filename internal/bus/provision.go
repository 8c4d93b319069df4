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
	// DLQMaxBytes bounds the DLQ stream's size, so a flood of failures cannot fill the
	// server's disk and stop every stream. At the bound the DLQ refuses new dead letters
	// (discard new) rather than dropping old ones: a refused dead-letter publish is a
	// failure of the message, which stays in its own stream and is retried, so nothing is
	// lost silently. sluice.dlq.bytes and sluice.dlq.max_bytes (ExportDLQUsage) and the
	// SluiceDLQFilling alert warn before that happens.
	DLQMaxBytes int64
	// DuplicateWindow is how long a Nats-Msg-Id is remembered for publish dedupe.
	DuplicateWindow time.Duration
	// KeepExisting creates what is missing and leaves existing streams and buckets as they
	// are: what a service does at start.
	KeepExisting bool
}

// DefaultDLQMaxBytes is the default bound of the DLQ stream: room for a thousand dead
// letters of whole records at the default 1 MiB NATS message size (far more of single
// rows), and small enough to fit beside the other streams on a modest JetStream volume,
// where a server that reserves stream bounds would refuse a large one.
const DefaultDLQMaxBytes = 1 << 30

// minDLQMaxBytes keeps room for at least a few dead letters of the largest NATS message.
const minDLQMaxBytes = 8 << 20

// DefaultProvision suits a single local server.
func DefaultProvision() ProvisionConfig {
	return ProvisionConfig{Replicas: 1, MaxAge: 7 * 24 * time.Hour, DLQMaxAge: 30 * 24 * time.Hour,
		DLQMaxBytes: DefaultDLQMaxBytes, DuplicateWindow: 10 * time.Minute}
}

// Validate names the wrong field.
func (c ProvisionConfig) Validate() error {
	switch {
	case c.Replicas < 1 || c.Replicas > 5:
		return fmt.Errorf("provision: replicas %d: must be 1..5", c.Replicas)
	case c.MaxAge <= 0 || c.DLQMaxAge <= 0:
		return fmt.Errorf("provision: max age must be positive")
	case c.DLQMaxBytes < minDLQMaxBytes:
		return fmt.Errorf("provision: DLQ max bytes %d: must be at least %d (the DLQ must be bounded, and hold a few of the largest messages)", c.DLQMaxBytes, minDLQMaxBytes)
	case c.DuplicateWindow <= 0 || c.DuplicateWindow > c.MaxAge:
		return fmt.Errorf("provision: duplicate window %v: must be positive and at most max age", c.DuplicateWindow)
	}
	return nil
}

// Provision creates or updates every stream and bucket sluice uses. It is idempotent: the
// Helm hook and `sluice provision` call it before an upgrade, and every service calls it
// at start with KeepExisting, so a missing stream or bucket is created and nothing that
// exists is changed (a service's defaults must not undo an operator's replicas or limits).
func Provision(ctx context.Context, js jetstream.JetStream, cfg ProvisionConfig) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	streams := []jetstream.StreamConfig{
		{Name: StreamTasks, Subjects: []string{"sluice.task.>"}, Retention: jetstream.WorkQueuePolicy, MaxAge: cfg.MaxAge},
		{Name: StreamRaw, Subjects: []string{"sluice.raw.>"}, MaxAge: cfg.MaxAge},
		{Name: StreamStaged, Subjects: []string{"sluice.staged.>"}, MaxAge: cfg.MaxAge},
		{Name: StreamRows, Subjects: []string{"sluice.rows.>"}, MaxAge: cfg.MaxAge},
		// Discard new at MaxBytes: see ProvisionConfig.DLQMaxBytes.
		{Name: StreamDLQ, Subjects: []string{"sluice.dlq.>"}, MaxAge: cfg.DLQMaxAge, MaxBytes: cfg.DLQMaxBytes, Discard: jetstream.DiscardNew},
		// Events are work: one durable consumer per provider takes each event once and
		// the stream forgets it, so recreating a consumer replays nothing already planned.
		{Name: StreamEvents, Subjects: []string{"sluice.event.>"}, Retention: jetstream.WorkQueuePolicy, MaxAge: cfg.MaxAge},
	}
	for _, sc := range streams {
		sc.Storage = jetstream.FileStorage
		sc.Replicas = cfg.Replicas
		sc.Duplicates = cfg.DuplicateWindow
		if cfg.KeepExisting {
			if _, err := js.Stream(ctx, sc.Name); err == nil {
				continue
			}
		}
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
		if cfg.KeepExisting {
			if _, err := js.KeyValue(ctx, kc.Bucket); err == nil {
				continue
			}
		}
		if _, err := js.CreateOrUpdateKeyValue(ctx, kc); err != nil {
			return fmt.Errorf("provision bucket %s: %w", kc.Bucket, err)
		}
	}
	return nil
}
