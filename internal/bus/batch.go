package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"
)

// BatchConfig bounds a batch by count, bytes and time.
type BatchConfig struct {
	MaxMessages int
	MaxBytes    int
	// MaxWait is how long a batch may wait for more messages after its first one.
	MaxWait time.Duration
}

// Validate names the wrong field.
func (b BatchConfig) Validate() error {
	if b.MaxMessages < 1 || b.MaxBytes < 1 || b.MaxWait <= 0 {
		return fmt.Errorf("batch: max messages %d, max bytes %d and max wait %v must all be positive", b.MaxMessages, b.MaxBytes, b.MaxWait)
	}
	return nil
}

// BatchHandler processes a batch and returns one error per message (nil: ack). Returning
// a shorter slice is a programming error and naks the whole batch.
type BatchHandler func(ctx context.Context, msgs []jetstream.Msg) []error

// RunBatches delivers batches to h one at a time until ctx ends; the next batch is being
// gathered while h works. On shutdown it stops fetching, hands the batches already fetched
// to h (within DrainTimeout) and returns.
func (c *Consumer) RunBatches(ctx context.Context, bc BatchConfig, h BatchHandler) error {
	if err := bc.Validate(); err != nil {
		return err
	}
	if c.cfg.MaxAckPending < bc.MaxMessages {
		return fmt.Errorf("consumer %s: max ack pending %d is below the batch size %d; batches could never fill", c.cfg.Durable, c.cfg.MaxAckPending, bc.MaxMessages)
	}
	cons, err := c.cfg.Ensure(ctx, c.js)
	if err != nil {
		return err
	}
	if unregister, err := ExportLag(cons, c.cfg.Stream, c.cfg.Durable); err == nil {
		defer unregister()
	}
	it, err := cons.Messages(jetstream.PullMaxMessagesWithBytesLimit(bc.MaxMessages, min(max(2*bc.MaxBytes, 4<<20), 2*prefetchBytes)))
	if err != nil {
		return fmt.Errorf("consume %s: %w", c.cfg.Durable, err)
	}
	work, stopWork := WorkContext(ctx, c.cfg.DrainTimeout)
	defer stopWork()
	stopDrain := context.AfterFunc(ctx, it.Drain)
	defer stopDrain()

	batches := make(chan []jetstream.Msg)
	var g errgroup.Group
	g.Go(func() error {
		defer close(batches)
		Gather(ctx, it, bc, batches, c.log)
		return nil
	})
	for batch := range batches {
		errs := h(work, batch)
		for i, msg := range batch {
			var err error
			if len(errs) != len(batch) {
				err = fmt.Errorf("batch handler returned %d results for %d messages", len(errs), len(batch))
			} else {
				err = errs[i]
			}
			Settle(work, msg, err, c.cfg.MaxDeliver, c.dlq, c.log)
		}
	}
	_ = g.Wait()
	it.Stop()
	return nil
}

// Gather sends the messages of it to out in batches bounded by count, bytes and the time
// since a batch's first message, until the iterator is drained and closed.
func Gather(ctx context.Context, it jetstream.MessagesContext, bc BatchConfig, out chan<- []jetstream.Msg, log *slog.Logger) {
	var batch []jetstream.Msg
	size := 0
	var deadline time.Time
	flush := func() {
		if len(batch) > 0 {
			out <- batch
			batch, size = nil, 0
		}
	}
	for {
		var msg jetstream.Msg
		var err error
		if len(batch) == 0 {
			msg, err = it.Next()
		} else {
			wait := time.Until(deadline)
			if wait <= 0 {
				flush()
				continue
			}
			msg, err = it.Next(jetstream.NextMaxWait(wait))
		}
		if err != nil {
			if errors.Is(err, nats.ErrTimeout) {
				flush()
				continue
			}
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) || ctx.Err() != nil {
				break
			}
			log.Warn("consumer fetch", "err", err)
			continue
		}
		if len(batch) == 0 {
			deadline = time.Now().Add(bc.MaxWait)
			batch = make([]jetstream.Msg, 0, bc.MaxMessages)
		}
		batch = append(batch, msg)
		size += len(msg.Data())
		if len(batch) >= bc.MaxMessages || size >= bc.MaxBytes {
			flush()
		}
	}
	flush()
}
