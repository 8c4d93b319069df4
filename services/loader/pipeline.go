package main

import (
	"context"
	"errors"
	"fmt"

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
	cons, err := cc.Ensure(ctx, js)
	if err != nil {
		return err
	}
	if unregister, err := bus.ExportLag(cons, cc.Stream, cc.Durable); err == nil {
		defer unregister()
	}
	it, err := cons.Messages(jetstream.PullMaxBytes(bc.MaxBytes))
	if err != nil {
		return fmt.Errorf("consume %s: %w", cc.Durable, err)
	}
	work, stopWork := bus.WorkContext(ctx, cc.DrainTimeout)
	defer stopWork()
	stopDrain := context.AfterFunc(ctx, it.Drain)
	defer stopDrain()

	// Unbuffered: each step holds one batch and hands it over when the next is free.
	fetched := make(chan []jetstream.Msg)
	prepared := make(chan *batch)
	g := new(errgroup.Group)
	g.Go(func() error {
		defer close(fetched)
		bus.Gather(ctx, it, bc, fetched, l.rt.Log)
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
