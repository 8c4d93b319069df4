package main

import (
	"context"

	"github.com/sluice-dev/sluice/internal/bus"
)

// consume runs the loader over its durable consumer until ctx ends, as a bus pipeline:
// while batch k is in its PostgreSQL transaction, batch k+1 is decoded and encoded and
// batch k+2 is being fetched, so the database is not left idle while the loader works.
// Every message is settled by the bus after the transaction holding its rows committed.
func (l *loader) consume(ctx context.Context, cons *bus.Consumer, bc bus.BatchConfig) error {
	return bus.RunPipeline(ctx, cons, bc, bus.Pipeline[*batch]{Prepare: l.prepare, Commit: l.commit})
}
