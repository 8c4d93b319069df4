package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// BucketDeliveries records why a message was delivered again: a failure of the handler or a
// hand-back at shutdown or in an outage. JetStream counts every delivery alike; this ledger
// lets a consumer spend its retry budget on failures only and tell a message that keeps
// crashing its consumer (deliveries nobody settled) from one that was handed back.
const BucketDeliveries = "sluice-deliveries"

// ledgerEntry is what the ledger knows of one message of one consumer. It exists only for
// messages that were naked or handed back, so the hot path (first delivery, ack) never
// touches the bucket.
type ledgerEntry struct {
	Failures  uint64 `json:"f,omitempty"`
	Handbacks uint64 `json:"h,omitempty"`
	LastError string `json:"e,omitempty"`
}

// unsettled is how many deliveries of a message ended without being settled by a consumer:
// the process crashed, was killed, or exceeded the ack wait.
func (e ledgerEntry) unsettled(delivered uint64) uint64 {
	explained := 1 + e.Failures + e.Handbacks // the current delivery, and those we settled
	if delivered <= explained {
		return 0
	}
	return delivered - explained
}

type ledger struct {
	kv      jetstream.KeyValue
	durable string
}

func openLedger(ctx context.Context, js jetstream.JetStream, durable string) (*ledger, error) {
	kv, err := js.KeyValue(ctx, BucketDeliveries)
	if err != nil {
		return nil, fmt.Errorf("bucket %s (run `sluice provision`): %w", BucketDeliveries, err)
	}
	return &ledger{kv: kv, durable: durable}, nil
}

func (l *ledger) key(seq uint64) string { return KVKey(l.durable, strconv.FormatUint(seq, 10)) }

// get returns the entry of the message at stream sequence seq; found is false when the
// message was never naked nor handed back.
func (l *ledger) get(ctx context.Context, seq uint64) (e ledgerEntry, found bool, err error) {
	kve, err := l.kv.Get(ctx, l.key(seq))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return ledgerEntry{}, false, nil
	}
	if err != nil {
		return ledgerEntry{}, false, err
	}
	if err := json.Unmarshal(kve.Value(), &e); err != nil {
		return ledgerEntry{}, false, fmt.Errorf("ledger %s: %w", kve.Key(), err)
	}
	return e, true, nil
}

// note adds a failure (cause non-nil) or a hand-back (cause nil) to the message's entry,
// with compare-and-set so that two replicas never lose each other's counts.
func (l *ledger) note(ctx context.Context, seq uint64, cause error) error {
	key := l.key(seq)
	for range 5 {
		var e ledgerEntry
		var rev uint64
		kve, err := l.kv.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			return err
		default:
			rev = kve.Revision()
			if err := json.Unmarshal(kve.Value(), &e); err != nil {
				return fmt.Errorf("ledger %s: %w", key, err)
			}
		}
		if cause != nil {
			e.Failures++
			e.LastError = truncate(cause.Error(), 500)
		} else {
			e.Handbacks++
		}
		data, _ := json.Marshal(e)
		if rev == 0 {
			_, err = l.kv.Create(ctx, key, data)
		} else {
			_, err = l.kv.Update(ctx, key, data, rev)
		}
		if err == nil {
			return nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !isWrongSequence(err) {
			return err
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("ledger %s: too many concurrent updates", key)
}

// forget removes the entry of a settled message.
func (l *ledger) forget(ctx context.Context, seq uint64) {
	_ = l.kv.Purge(ctx, l.key(seq))
}

func isWrongSequence(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}
