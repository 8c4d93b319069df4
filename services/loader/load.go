package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/sluice-dev/sluice/internal/bus"
	"github.com/sluice-dev/sluice/internal/pgload"
	"github.com/sluice-dev/sluice/internal/service"
	"github.com/sluice-dev/sluice/internal/spec"
	"github.com/sluice-dev/sluice/internal/specstore"
)

type loader struct {
	rt       *service.Runtime
	pg       *pgload.Loader
	specs    *specstore.Store
	dlq      *bus.DeadLetters
	tracer   trace.Tracer
	parallel int
	rows     metric.Int64Counter
	skipped  metric.Int64Counter
	rejected metric.Int64Counter
	duration metric.Float64Histogram
}

func newLoader(rt *service.Runtime, pg *pgload.Loader, specs *specstore.Store, dlq *bus.DeadLetters, parallel int) (*loader, error) {
	m := rt.Telemetry.Meter
	rows, err := m.Int64Counter("sluice.load.rows", metric.WithDescription("rows inserted or changed in PostgreSQL"))
	if err != nil {
		return nil, err
	}
	skipped, err := m.Int64Counter("sluice.load.skipped", metric.WithDescription("rows not written: identical to the table's, older than it, or superseded in the same batch"))
	if err != nil {
		return nil, err
	}
	rejected, err := m.Int64Counter("sluice.load.rejected", metric.WithDescription("rows that cannot be loaded, sent to the DLQ"))
	if err != nil {
		return nil, err
	}
	dur, err := m.Float64Histogram("sluice.load.batch.duration", metric.WithUnit("s"), metric.WithDescription("time to load one batch"))
	if err != nil {
		return nil, err
	}
	return &loader{rt: rt, pg: pg, specs: specs, dlq: dlq, tracer: rt.Telemetry.Tracer, parallel: parallel,
		rows: rows, skipped: skipped, rejected: rejected, duration: dur}, nil
}

// item is one ROWS message on its way into a transaction.
type item struct {
	msg   jetstream.Msg
	batch *pgload.Batch
	ctx   context.Context
	span  trace.Span
	err   error
}

// handle loads a batch of messages: one transaction per table (tables in parallel), rows
// that cannot be loaded isolated and dead-lettered, each message acked (by returning nil)
// only after the transaction holding its rows has committed.
func (l *loader) handle(ctx context.Context, msgs []jetstream.Msg) []error {
	start := time.Now()
	items := make([]*item, len(msgs))
	groups := map[string][]*item{}
	var order []string
	links := make([]trace.Link, 0, len(msgs))
	for i, msg := range msgs {
		mctx, span := bus.StartSpan(ctx, l.tracer, "load", msg)
		links = append(links, trace.LinkFromContext(mctx))
		it := &item{msg: msg, ctx: mctx, span: span}
		items[i] = it
		b, err := pgload.ParseBatch(msg.Data())
		if err != nil {
			it.err = bus.Permanent(fmt.Errorf("decode row batch on %s: %w", msg.Subject(), err))
			continue
		}
		it.batch = b
		span.SetAttributes(attribute.String("sluice.table", b.Table), attribute.Int("sluice.rows", len(b.Rows)))
		if _, ok := groups[b.Table]; !ok {
			order = append(order, b.Table)
		}
		groups[b.Table] = append(groups[b.Table], it)
	}
	bctx, bspan := l.tracer.Start(ctx, "load batch", trace.WithLinks(links...), trace.WithAttributes(
		attribute.Int("sluice.messages", len(msgs)), attribute.Int("sluice.tables", len(order))))
	var wg sync.WaitGroup
	sem := make(chan struct{}, l.parallel)
	for _, table := range order {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			group := groups[table]
			if err := l.loadTable(bctx, group); err != nil {
				for _, it := range group {
					if it.err == nil {
						it.err = err
					}
				}
			}
		}()
	}
	wg.Wait()
	bspan.End()
	errs := make([]error, len(items))
	for i, it := range items {
		errs[i] = it.err
		it.span.AddLink(trace.LinkFromContext(bctx))
		if it.err != nil {
			it.span.RecordError(it.err)
			it.span.SetStatus(codes.Error, it.err.Error())
		}
		it.span.End()
	}
	l.duration.Record(ctx, time.Since(start).Seconds())
	return errs
}

// origin is where an encoded row came from.
type origin struct {
	it  *item
	row int
}

// loadTable migrates the table to the newest spec, encodes every row of items (rows that
// cannot be converted go to the DLQ at once) and upserts them. The error it returns
// applies to every item of the group; item-level failures are set on the item.
func (l *loader) loadTable(ctx context.Context, items []*item) error {
	first := items[0].batch
	version := first.SpecVersion
	for _, it := range items {
		version = max(version, it.batch.SpecVersion)
	}
	sp, err := l.specs.GetAtLeast(ctx, first.Provider, first.Dataset, version)
	if err != nil {
		return err // not registered or not propagated yet: retry later
	}
	if sp.Table != first.Table {
		return bus.Permanent(fmt.Errorf("rows for table %s, but spec %s v%d loads into %s", first.Table, sp.Key(), sp.Version, sp.Table))
	}
	t := tableOf(sp)
	if err := l.pg.Ensure(ctx, t); err != nil {
		if pgload.IsPermanent(err) {
			return bus.Permanent(err)
		}
		return err
	}
	ts, err := pgload.NewTuples(t, time.Now())
	if err != nil {
		return bus.Permanent(err)
	}
	var origins []origin
	for _, it := range items {
		bind, err := t.Bind(it.batch.Columns)
		if err != nil {
			it.err = bus.Permanent(fmt.Errorf("record %s: %w", it.batch.RecordID, err))
			continue
		}
		for r, row := range it.batch.Rows {
			if _, err := ts.Append(it.batch, bind, row); err != nil {
				l.reject(ctx, t, it, r, err)
				continue
			}
			origins = append(origins, origin{it, r})
		}
	}
	live := ts.Live()
	l.skipped.Add(ctx, int64(ts.Len()-len(live)), metric.WithAttributes(attribute.String("table", t.Name)))
	return l.upsert(ctx, ts, live, origins)
}

// upsert loads sel. When the database refuses the data (a permanent error) it bisects
// until each bad row is alone; bad rows go to the DLQ with the database's reason and every
// other row is loaded. A transient error fails the whole group, to be retried; what was
// committed before it is committed again as a no-op.
func (l *loader) upsert(ctx context.Context, ts *pgload.Tuples, sel []int, origins []origin) error {
	if len(sel) == 0 {
		return nil
	}
	attrs := metric.WithAttributes(attribute.String("table", ts.Table().Name))
	n, err := l.pg.Upsert(ctx, ts, sel)
	if err == nil {
		l.rows.Add(ctx, n, attrs)
		l.skipped.Add(ctx, int64(len(sel))-n, attrs)
		return nil
	}
	if !pgload.IsPermanent(err) {
		return err
	}
	if len(sel) == 1 {
		o := origins[sel[0]]
		l.reject(ctx, ts.Table(), o.it, o.row, err)
		return nil
	}
	mid := len(sel) / 2
	if err := l.upsert(ctx, ts, sel[:mid], origins); err != nil {
		return err
	}
	return l.upsert(ctx, ts, sel[mid:], origins)
}

// reject dead-letters row r of it with the reason; when the DLQ cannot take it, the whole
// message fails and is retried, so the row is never lost.
func (l *loader) reject(ctx context.Context, t pgload.Table, it *item, r int, cause error) {
	l.rejected.Add(ctx, 1, metric.WithAttributes(attribute.String("table", t.Name)))
	row := it.batch.Rows[r]
	reason := pgload.Reason(cause)
	if err := l.dlq.Row(it.ctx, it.msg, row.Index(), reason, singleRowBatch(it.batch, row)); err != nil && it.err == nil {
		it.err = fmt.Errorf("dead-letter row %d of record %s: %w", row.Index(), it.batch.RecordID, err)
	}
	it.span.AddEvent("row rejected", trace.WithAttributes(attribute.Int64("sluice.row_index", row.Index()), attribute.String("reason", cause.Error())))
}

func tableOf(sp *spec.Spec) pgload.Table {
	t := pgload.Table{Name: sp.Table, PrimaryKey: sp.PrimaryKey}
	for _, c := range sp.Columns {
		t.Columns = append(t.Columns, pgload.Column{Name: c.Name, Type: c.Type.PostgresType()})
	}
	return t
}
