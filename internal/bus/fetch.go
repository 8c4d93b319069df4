package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
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

// idleWait is how long one pull waits for a first message; it bounds how late a shutdown
// or an outage is noticed by an idle consumer.
const idleWait = 2 * time.Second

// fetcher pulls batches with explicit requests, never ahead of the stage: nothing arrives
// that no one will handle, so stopping (shutdown, outage) leaves nothing buffered in the
// client to time out and be redelivered.
type fetcher struct {
	c       *Consumer
	bc      BatchConfig
	cons    jetstream.Consumer
	backoff time.Duration
	// missing counts consecutive attempts that found the stream gone.
	missing int
}

// next returns the next batch, waiting while a target is down. It returns ctx's error at
// shutdown and another error only when the consumer cannot exist (its stream is gone).
// work is the context for dead-lettering messages that exhausted their deliveries.
func (f *fetcher) next(ctx, work context.Context) ([]jetstream.Msg, error) {
	for {
		if !f.c.gate.wait(ctx) {
			return nil, ctx.Err()
		}
		if f.cons == nil {
			cons, err := f.c.cfg.Ensure(ctx, f.c.js)
			if err != nil {
				if errors.Is(err, jetstream.ErrStreamNotFound) {
					if f.missing++; f.missing >= 5 {
						return nil, fmt.Errorf("stream %s is gone (the server lost its state?): restart to provision it: %w", f.c.cfg.Stream, err)
					}
				}
				if !f.pause(ctx, err) {
					return nil, ctx.Err()
				}
				continue
			}
			f.cons, f.missing = cons, 0
		}
		msgs, err := f.fetch()
		if err != nil && len(msgs) == 0 {
			// The consumer may be gone (deleted, a server restarted without state):
			// ensure it again before the next pull.
			f.cons = nil
			if !f.pause(ctx, err) {
				return nil, ctx.Err()
			}
			continue
		}
		if f.backoff > 0 {
			f.c.log.Info("fetching again")
		}
		f.backoff = 0
		f.c.fetchErr.Store(nil)
		// Messages that arrive while shutting down are in hand all the same: the drain
		// handles them.
		if msgs = f.c.admit(work, msgs); len(msgs) > 0 {
			return msgs, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
}

// pause backs off after a failed fetch: 100 ms doubling to 10 s.
func (f *fetcher) pause(ctx context.Context, err error) bool {
	f.backoff = min(max(2*f.backoff, 100*time.Millisecond), 10*time.Second)
	f.c.fetchErr.Store(&err)
	f.c.log.Warn("consumer fetch failed", "err", err, "retry_in", f.backoff.String())
	select {
	case <-ctx.Done():
		return false
	case <-time.After(f.backoff):
		return true
	}
}

// fetch waits up to idleWait for a first message, then up to MaxWait for the rest of a
// batch bounded by count and bytes.
func (f *fetcher) fetch() ([]jetstream.Msg, error) {
	first, err := f.cons.Fetch(1, jetstream.FetchMaxWait(idleWait))
	if err != nil {
		return nil, err
	}
	msgs, err := drainBatch(first, nil)
	if len(msgs) == 0 || err != nil {
		return msgs, err
	}
	n, rest := f.bc.MaxMessages-1, f.bc.MaxBytes-len(msgs[0].Data())
	if n < 1 || rest < 1 {
		return msgs, nil
	}
	more, err := f.cons.Fetch(n, jetstream.FetchMaxBytes(rest), jetstream.FetchMaxWait(max(f.bc.MaxWait, 10*time.Millisecond)))
	if err != nil {
		return msgs, nil // the first message is held; the error recurs on the next pull
	}
	msgs, _ = drainBatch(more, msgs)
	return msgs, nil
}

// drainBatch reads every message of a pull: all of them are delivered, so all are handled.
func drainBatch(b jetstream.MessageBatch, msgs []jetstream.Msg) ([]jetstream.Msg, error) {
	for m := range b.Messages() {
		msgs = append(msgs, m)
	}
	return msgs, b.Error()
}

// admit registers fetched messages as held. A message delivered again is looked up in the
// ledger; one whose deliveries kept ending unsettled (its handler crashed the process, or
// exceeded the ack wait) MaxDeliver times is dead-lettered instead of handled again.
func (c *Consumer) admit(work context.Context, msgs []jetstream.Msg) []jetstream.Msg {
	out := msgs[:0]
	for _, msg := range msgs {
		d := newDelivery(msg)
		known := true
		if d.delivered > 1 && c.ledger != nil {
			lctx, cancel := context.WithTimeout(detached(work), 5*time.Second)
			e, found, err := c.ledger.get(lctx, d.seq)
			cancel()
			if err != nil {
				// Unknown history: never dead-letter on a guess.
				known = false
				c.log.Warn("delivery ledger unreadable; not checking this message for crashes", "seq", d.seq, "err", err)
			}
			d.entry, d.inLedger = e, found
		}
		c.held.add(msg, d)
		if n := d.entry.unsettled(d.delivered); known && n >= uint64(c.cfg.MaxDeliver) {
			reason := fmt.Sprintf("delivered %d times and %d of them never settled: the %s consumer crashed, was killed or exceeded its ack wait while holding it", d.delivered, n, c.cfg.Durable)
			if d.entry.LastError != "" {
				reason += "; last error: " + d.entry.LastError
			}
			c.settle(work, work, []jetstream.Msg{msg}, []error{Permanent(errors.New(reason))}, time.Now(), nil)
			continue
		}
		out = append(out, msg)
	}
	return out
}

func newDelivery(msg jetstream.Msg) *delivery {
	d := &delivery{delivered: 1}
	if md, err := msg.Metadata(); err == nil {
		d.seq, d.delivered = md.Sequence.Stream, md.NumDelivered
	}
	return d
}
