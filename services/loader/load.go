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
	"github.com/sluice-dev/sluice/internal/rowbatch"
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
	batch *rowbatch.Batch
	ctx   context.Context
	span  trace.Span
	// mu guards err: the shards of a table reject rows of one item concurrently.
	mu  sync.Mutex
	err error
}

// batch is one loader batch on its way through the pipeline: prepared (decoded, grouped
// by table, tables migrated, rows encoded), then committed.
type batch struct {
	items  []*item
	groups []*group
	ctx    context.Context // carries the batch span, which links every record
	span   trace.Span
	start  time.Time
}

// group is the rows of one table in a batch: one transaction.
type group struct {
	items   []*item
	ts      *pgload.Tuples
	origins []origin
	// err applies to every item of the group (e.g. the spec is not registered yet).
	err error
	// shardErrs are the results of the group's transactions.
	shardErrs []error
}

// prepare decodes msgs, starts each record's load span and the batch span linking them,
// migrates each table to the newest spec and encodes the rows. Rows that cannot be
// converted go to the DLQ here; database work other than migrations waits for commit.
func (l *loader) prepare(ctx context.Context, msgs []jetstream.Msg) *batch {
	b := &batch{items: make([]*item, len(msgs)), start: time.Now()}
	byTable := map[string]*group{}
	links := make([]trace.Link, 0, len(msgs))
	for i, msg := range msgs {
		mctx, span := bus.StartSpan(ctx, l.tracer, "load", msg)
		links = append(links, trace.LinkFromContext(mctx))
		it := &item{msg: msg, ctx: mctx, span: span}
		b.items[i] = it
		rb, err := rowbatch.Parse(msg.Data())
		if err != nil {
			it.err = bus.Permanent(fmt.Errorf("decode row batch on %s: %w", msg.Subject(), err))
			continue
		}
		it.batch = rb
		span.SetAttributes(attribute.String("sluice.table", rb.Table), attribute.Int("sluice.rows", len(rb.Rows)))
		g, ok := byTable[rb.Table]
		if !ok {
			g = &group{}
			byTable[rb.Table] = g
			b.groups = append(b.groups, g)
		}
		g.items = append(g.items, it)
	}
	b.ctx, b.span = l.tracer.Start(ctx, "load batch", trace.WithLinks(links...), trace.WithAttributes(
		attribute.Int("sluice.messages", len(msgs)), attribute.Int("sluice.tables", len(b.groups))))
	for _, g := range b.groups {
		g.err = l.encode(b.ctx, g)
	}
	return b
}

// minShardRows is the fewest rows worth a transaction of their own: below it, the
// round trips of another transaction cost more than its rows.
const minShardRows = 2000

// commit upserts each table's rows and returns one error per message: nil once every
// transaction holding its rows has committed. A table's rows are split over the
// connections in shards of disjoint keys (see pgload.Tuples.Shards), so one table loads as
// fast as several: the shards' transactions never wait on each other. A failed
// shard fails the messages of its table, whose other shards' rows are then loaded again
// as no-ops (identical rows are not rewritten), as after any retry.
func (l *loader) commit(ctx context.Context, b *batch) []error {
	ctx = trace.ContextWithSpan(ctx, b.span)
	var wg sync.WaitGroup
	sem := make(chan struct{}, l.parallel)
	for _, g := range b.groups {
		if g.err != nil {
			continue
		}
		shards := g.ts.Shards(min(l.parallel, max(1, g.ts.LiveLen()/minShardRows)))
		errs := make([]error, len(shards))
		for i, sel := range shards {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				errs[i] = l.upsert(ctx, g.ts, sel, g.origins)
			}()
		}
		g.shardErrs = errs
	}
	wg.Wait()
	for _, g := range b.groups {
		for _, err := range g.shardErrs {
			if err != nil && g.err == nil {
				g.err = err
			}
		}
	}
	for _, g := range b.groups {
		for _, it := range g.items {
			if g.err != nil && it.err == nil {
				it.err = g.err
			}
		}
	}
	b.span.End()
	errs := make([]error, len(b.items))
	for i, it := range b.items {
		errs[i] = it.err
		it.span.AddLink(trace.LinkFromContext(b.ctx))
		if it.err != nil {
			it.span.RecordError(it.err)
			it.span.SetStatus(codes.Error, it.err.Error())
		}
		it.span.End()
	}
	l.duration.Record(ctx, time.Since(b.start).Seconds())
	return errs
}

// origin is where an encoded row came from.
type origin struct {
	it  *item
	row int
}

// encode migrates the group's table to the newest spec and encodes every row of its items;
// rows that cannot be converted go to the DLQ at once. The error it returns applies to
// every item of the group; item-level failures are set on the item.
func (l *loader) encode(ctx context.Context, g *group) error {
	items := g.items
	first := items[0].batch
	version := first.SpecVersion
	for _, it := range items {
		version = max(version, it.batch.SpecVersion)
	}
	sp, err := l.specs.GetAtLeast(ctx, first.Provider, first.Dataset, version)
	if err != nil {
		// Not registered or not propagated yet: wait for it without spending deliveries.
		return bus.Unavailable("spec "+first.Provider+"/"+first.Dataset, err)
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
	size, rows := 0, 0
	for _, it := range items {
		size += len(it.msg.Data())
		rows += len(it.batch.Rows)
	}
	ts, err := pgload.NewTuples(t, time.Now(), size+size/4)
	if err != nil {
		return bus.Permanent(err)
	}
	ts.Reserve(rows)
	g.origins = make([]origin, 0, rows)
	g.ts = ts
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
			g.origins = append(g.origins, origin{it, r})
		}
	}
	return nil
}

// upsert loads sel. When the database refuses the data (a permanent error) it bisects
// until each bad row is alone; bad rows go to the DLQ with the database's reason, the
// next older version of a bad row's key in the batch is tried in its place, and every
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
		// The refused row was the freshest version of its key in this batch; the next
		// freshest (superseded, so far not sent) is loaded in its place, or the key's
		// other versions would vanish with it.
		if older := ts.Older(sel[0]); older >= 0 {
			return l.upsert(ctx, ts, []int{older}, origins)
		}
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
	// The letter holds the row alone, so that `sluice dlq retry` re-sends the bad row and
	// not its whole message; when the row cannot be cut out, the whole message.
	data, err := rowbatch.SingleRow(it.batch, row)
	if err != nil {
		data = nil
	}
	if err := l.dlq.Row(it.ctx, it.msg, row.Index(), reason, data); err != nil {
		it.mu.Lock()
		if it.err == nil {
			it.err = fmt.Errorf("dead-letter row %d of record %s: %w", row.Index(), it.batch.RecordID, err)
		}
		it.mu.Unlock()
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
