package bus

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/codes"
	"golang.org/x/sync/errgroup"
)

// session is one run of a consumer loop: its work context and the goroutines that keep
// held messages alive.
type session struct {
	work context.Context
	stop func()
	// cons is the consumer ensured at start (nil if the server refused): the fetcher's first.
	cons jetstream.Consumer
}

// start prepares a run: the delivery ledger, heartbeats of held messages, metrics.
func (c *Consumer) start(ctx context.Context) (*session, error) {
	l, err := openLedger(ctx, c.js, c.cfg.Durable)
	if err != nil {
		return nil, err
	}
	c.ledger = l
	work, stopWork := workContext(ctx, c.cfg.DrainTimeout)
	var unregs []func()
	cons, err := c.cfg.Ensure(ctx, c.js)
	if err == nil {
		if unreg, err := ExportLag(cons, c.cfg.Stream, c.cfg.Durable); err == nil {
			unregs = append(unregs, unreg)
		}
	}
	known := make([]string, len(c.targets))
	for i, t := range c.targets {
		known[i] = t.Name
	}
	if unreg, err := c.gate.exportWaiting(known); err == nil {
		unregs = append(unregs, unreg)
	}
	hbCtx, stopHB := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() { c.held.heartbeat(hbCtx, c.cfg.AckWait) })
	c.running.Store(true)
	return &session{work: work, cons: cons, stop: func() {
		c.running.Store(false)
		// Anything still held (a loop ended by an error) goes back unspent.
		for _, m := range c.held.all() {
			c.handBack(m)
		}
		stopHB()
		wg.Wait()
		for _, u := range unregs {
			u()
		}
		stopWork()
	}}, nil
}

// Run delivers messages to h with cfg.Workers goroutines until ctx ends. Then it stops
// fetching and handles what it holds within DrainTimeout; what is left then is handed back
// (a nak without delay, not counted against the message). It returns an error only when the consumer cannot go on (its
// stream is gone); the service should then exit and be restarted.
func (c *Consumer) Run(ctx context.Context, h Handler) error {
	s, err := c.start(ctx)
	if err != nil {
		return err
	}
	defer s.stop()
	f := &fetcher{c: c, cons: s.cons, bc: BatchConfig{MaxMessages: c.cfg.Workers, MaxBytes: prefetchBytes, MaxWait: 0}}
	msgs := make(chan jetstream.Msg)
	var g errgroup.Group
	for range c.cfg.Workers {
		g.Go(func() error {
			for msg := range msgs {
				if s.work.Err() != nil {
					c.handBack(msg) // the drain is over: no handler could finish it
					continue
				}
				c.handleOne(ctx, s.work, msg, h)
			}
			return nil
		})
	}
	g.Go(func() error {
		defer close(msgs)
		return c.feed(ctx, s, f, func(batch []jetstream.Msg) {
			for _, m := range batch {
				select {
				case msgs <- m:
				case <-s.work.Done():
					c.handBack(m)
				}
			}
		})
	})
	return g.Wait()
}

func (c *Consumer) handleOne(ctx, work context.Context, msg jetstream.Msg, h Handler) {
	sctx, span := StartSpan(work, c.tracer, c.cfg.Stage, msg)
	defer span.End()
	run := func(_ context.Context, ms []jetstream.Msg) []error {
		err := h(sctx, ms[0])
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		return []error{err}
	}
	started := time.Now()
	c.settle(ctx, sctx, []jetstream.Msg{msg}, run(sctx, []jetstream.Msg{msg}), started, run)
}

// BatchHandler processes a batch and returns one error per message (nil: ack).
type BatchHandler func(ctx context.Context, msgs []jetstream.Msg) []error

// RunBatches delivers batches to h one at a time until ctx ends; the next batch is fetched
// while h works. See RunPipeline for shutdown and outages.
func (c *Consumer) RunBatches(ctx context.Context, bc BatchConfig, h BatchHandler) error {
	return RunPipeline(ctx, c, bc, Pipeline[[]jetstream.Msg]{
		Prepare: func(_ context.Context, msgs []jetstream.Msg) []jetstream.Msg { return msgs },
		Commit:  h,
	})
}

// Pipeline is a batch handler in two steps that overlap across consecutive batches: while
// batch k commits, batch k+1 is prepared and batch k+2 fetched.
type Pipeline[T any] struct {
	// Prepare does the work that needs no ordering (decode, encode, migrate).
	Prepare func(ctx context.Context, msgs []jetstream.Msg) T
	// Commit makes the prepared batch durable and returns one error per message, in the
	// order Prepare received them.
	Commit func(ctx context.Context, prepared T) []error
}

// RunPipeline runs p over c's messages until ctx ends. Each step holds one batch and hands
// it over when the next step is free, so memory is a small multiple of the batch bytes.
// Every message is settled after Commit (see Consumer). On shutdown it stops fetching,
// finishes the batches it holds within DrainTimeout and hands back what is left then.
// While a dependency is down, the commit step holds its batch and runs the failed
// messages again (Prepare then Commit) when it returns; fetching waits meanwhile.
func RunPipeline[T any](ctx context.Context, c *Consumer, bc BatchConfig, p Pipeline[T]) error {
	if err := bc.Validate(); err != nil {
		return err
	}
	if c.cfg.MaxAckPending < bc.MaxMessages {
		return fmt.Errorf("consumer %s: max ack pending %d is below the batch size %d; batches could never fill", c.cfg.Durable, c.cfg.MaxAckPending, bc.MaxMessages)
	}
	s, err := c.start(ctx)
	if err != nil {
		return err
	}
	defer s.stop()
	type prepared struct {
		msgs    []jetstream.Msg
		v       T
		started time.Time
	}
	fetched := make(chan []jetstream.Msg)
	ready := make(chan prepared)
	f := &fetcher{c: c, cons: s.cons, bc: bc}
	var g errgroup.Group
	g.Go(func() error {
		defer close(fetched)
		return c.feed(ctx, s, f, func(batch []jetstream.Msg) {
			select {
			case fetched <- batch:
			case <-s.work.Done():
				c.handBackAll(batch)
			}
		})
	})
	g.Go(func() error {
		defer close(ready)
		for msgs := range fetched {
			if s.work.Err() != nil {
				c.handBackAll(msgs)
				continue
			}
			started := time.Now()
			ready <- prepared{msgs, p.Prepare(s.work, msgs), started}
		}
		return nil
	})
	g.Go(func() error {
		rerun := func(work context.Context, msgs []jetstream.Msg) []error {
			return p.Commit(work, p.Prepare(work, msgs))
		}
		for b := range ready {
			errs := p.Commit(s.work, b.v)
			if len(errs) != len(b.msgs) {
				err := fmt.Errorf("batch handler returned %d results for %d messages", len(errs), len(b.msgs))
				errs = make([]error, len(b.msgs))
				for i := range errs {
					errs[i] = err
				}
			}
			c.settle(ctx, s.work, b.msgs, errs, b.started, rerun)
		}
		return nil
	})
	return g.Wait()
}

func (c *Consumer) handBackAll(msgs []jetstream.Msg) {
	for _, m := range msgs {
		c.handBack(m)
	}
}

// feed passes each fetched batch to send until shutdown; it returns an error only when the
// consumer cannot go on.
func (c *Consumer) feed(ctx context.Context, s *session, f *fetcher, send func([]jetstream.Msg)) error {
	for {
		batch, err := f.next(ctx, s.work)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		send(batch)
	}
}
