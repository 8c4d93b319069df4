package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/sluice-dev/sluice/internal/bus"
)

// consume runs the loader over its durable consumer until ctx ends. It gathers messages
// into batches bounded by count, bytes and time, as bus.Consumer.RunBatches does, but
// overlaps the steps of consecutive batches: while batch k is in its PostgreSQL
// transaction, batch k+1 is decoded and encoded and batch k+2 is being fetched, so the
// database is not left idle while the loader works. Each step holds at most one batch
// (plus one waiting at each hand-over) and the fetch buffer is bounded in bytes, so memory
// is a small multiple of the batch bytes whatever the backlog or the report size.
// Every message is settled (acked, nakked or dead-lettered) by the commit step, after the
// transaction holding its rows has committed. On shutdown it stops fetching, lets the
// batches in flight finish within cc.DrainTimeout, and returns.
func (l *loader) consume(ctx context.Context, js jetstream.JetStream, cc bus.ConsumerConfig, bc bus.BatchConfig) error {
	if err := errors.Join(cc.Validate(), bc.Validate()); err != nil {
		return err
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, cc.Stream, jetstream.ConsumerConfig{
		Durable:        cc.Durable,
		AckPolicy:      jetstream.AckExplicitPolicy,
		DeliverPolicy:  jetstream.DeliverAllPolicy,
		FilterSubjects: cc.FilterSubjects,
		MaxAckPending:  cc.MaxAckPending,
		MaxDeliver:     cc.MaxDeliver,
		AckWait:        cc.AckWait,
	})
	if err != nil {
		return fmt.Errorf("consumer %s on %s: %w", cc.Durable, cc.Stream, err)
	}
	if unregister, err := bus.ExportLag(cons, cc.Stream, cc.Durable); err == nil {
		defer unregister()
	}
	it, err := cons.Messages(jetstream.PullMaxBytes(bc.MaxBytes))
	if err != nil {
		return fmt.Errorf("consume %s: %w", cc.Durable, err)
	}
	work, stopWork := workContext(ctx, cc.DrainTimeout)
	defer stopWork()
	stopDrain := context.AfterFunc(ctx, it.Drain)
	defer stopDrain()

	// Unbuffered: each step holds one batch and hands it over when the next is free.
	fetched := make(chan []jetstream.Msg)
	prepared := make(chan *batch)
	g := new(errgroup.Group)
	g.Go(func() error {
		defer close(fetched)
		gather(ctx, it, bc, fetched, l.rt.Log)
		return nil
	})
	g.Go(func() error {
		defer close(prepared)
		for msgs := range fetched {
			prepared <- l.prepare(work, msgs)
		}
		return nil
	})
	g.Go(func() error {
		for b := range prepared {
			errs := l.commit(work, b)
			for i, it := range b.items {
				bus.Settle(work, it.msg, errs[i], cc.MaxDeliver, l.dlq, l.rt.Log)
			}
		}
		return nil
	})
	err = g.Wait()
	it.Stop()
	return err
}

// gather sends batches of messages to out until the iterator is drained and closed.
func gather(ctx context.Context, it jetstream.MessagesContext, bc bus.BatchConfig, out chan<- []jetstream.Msg, log *slog.Logger) {
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

// workContext outlives ctx by drain so work in flight can finish after shutdown begins.
func workContext(ctx context.Context, drain time.Duration) (context.Context, context.CancelFunc) {
	work, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(drain, cancel)
		<-work.Done()
		t.Stop()
	})
	return work, func() { stop(); cancel() }
}
