package s3objects

import (
	"context"
	"crypto/sha256"
	"encoding/hex"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/sluice-dev/sluice/internal/bus"
	"github.com/sluice-dev/sluice/services/extractor/provider/checkpoint"
	"github.com/sluice-dev/sluice/services/extractor/providers/s3objects/transfer"
)

// Checkpoint keys (under the provider's prefix in sluice-checkpoints):
//
//	transfer.<hash of target bucket/key>  a copy's transfer.State (read by `sluice status`)
//	transferplan                         the last transfer plan's listing (PlanSummary)
//	seen.<hash of source bucket/key>     the ETag of the object last ingested (Seen)
const (
	transferKey = "transfer"
	planKey     = "transferplan"
	seenKey     = "seen"
)

func objectHash(bucket, key string) string {
	sum := sha256.Sum256([]byte(bucket + "/" + key))
	return hex.EncodeToString(sum[:16])
}

// TransferCheckpoint is the sluice-checkpoints key of the copy to dstBucket/dstKey: its
// value is the copy's transfer.State.
func TransferCheckpoint(dstBucket, dstKey string) string {
	return bus.KVKey(Name, transferKey, objectHash(dstBucket, dstKey))
}

// journal keeps one copy's state in the checkpoint store.
type journal struct {
	store *checkpoint.Store
	key   string
	cur   checkpoint.Cursor[transfer.State]
}

func (p *s3objects) journal(dstBucket, dstKey string) *journal {
	return &journal{store: p.ckpt, key: TransferCheckpoint(dstBucket, dstKey)}
}

func (j *journal) Load(ctx context.Context) (transfer.State, bool, error) {
	c, err := checkpoint.Load[transfer.State](ctx, j.store, j.key)
	if err != nil {
		return transfer.State{}, false, err
	}
	j.cur = c
	return c.Value, c.Found, nil
}

// Save overwrites with compare-and-set: a conflict means another replica works on the
// same copy (a redelivered task), and this attempt stops rather than interleave.
func (j *journal) Save(ctx context.Context, s transfer.State) error {
	c := j.cur
	c.Value = s
	saved, err := checkpoint.Save(ctx, j.store, c)
	if err != nil {
		return err
	}
	j.cur = saved
	return nil
}

// Seen is the checkpoint of an ingested object.
type Seen struct {
	ETag string `json:"etag"`
}

func (m metrics) observer() transfer.Observer {
	return transfer.Observer{
		Part: func(mode transfer.Mode, n int64) {
			attrs := metric.WithAttributes(attribute.String("mode", string(mode)))
			m.parts.Add(context.Background(), 1, metric.WithAttributes(attribute.String("mode", string(mode)), attribute.String("outcome", "sent")))
			m.bytes.Add(context.Background(), n, attrs)
		},
		Resumed: func(parts int, n int64) {
			m.parts.Add(context.Background(), int64(parts), metric.WithAttributes(attribute.String("outcome", "resumed")))
			m.bytes.Add(context.Background(), n, metric.WithAttributes(attribute.String("mode", "resumed")))
		},
	}
}
