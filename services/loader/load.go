package main

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"

	"github.com/sluice-dev/sluice/internal/bus"
	"github.com/sluice-dev/sluice/internal/pgload"
	"github.com/sluice-dev/sluice/internal/service"
	"github.com/sluice-dev/sluice/internal/spec"
	"github.com/sluice-dev/sluice/internal/specstore"
	sluicev1 "github.com/sluice-dev/sluice/proto/sluice/v1"
)

type loader struct {
	rt       *service.Runtime
	pg       *pgload.Loader
	specs    *specstore.Store
	dlq      *bus.DeadLetters
	tracer   trace.Tracer
	rows     metric.Int64Counter
	rejected metric.Int64Counter
	duration metric.Float64Histogram
}

func newLoader(rt *service.Runtime, pg *pgload.Loader, specs *specstore.Store, dlq *bus.DeadLetters) (*loader, error) {
	m := rt.Telemetry.Meter
	rows, err := m.Int64Counter("sluice.load.rows", metric.WithDescription("rows committed to PostgreSQL"))
	if err != nil {
		return nil, err
	}
	rejected, err := m.Int64Counter("sluice.load.rejected", metric.WithDescription("rows the database refused, sent to the DLQ"))
	if err != nil {
		return nil, err
	}
	dur, err := m.Float64Histogram("sluice.load.batch.duration", metric.WithUnit("s"), metric.WithDescription("time to load one batch"))
	if err != nil {
		return nil, err
	}
	return &loader{rt: rt, pg: pg, specs: specs, dlq: dlq, tracer: rt.Telemetry.Tracer, rows: rows, rejected: rejected, duration: dur}, nil
}

// item is one ROWS message on its way into a transaction.
type item struct {
	i     int
	msg   jetstream.Msg
	batch *sluicev1.RowBatch
	ctx   context.Context
	span  trace.Span
	rows  []pgload.Row
}

// handle loads a batch of messages: one transaction per table, bad rows isolated by
// bisection and dead-lettered, each message acked (by returning nil) only after commit.
func (l *loader) handle(ctx context.Context, msgs []jetstream.Msg) []error {
	start := time.Now()
	errs := make([]error, len(msgs))
	groups := map[string][]*item{}
	var order []string
	var links []trace.Link
	for i, msg := range msgs {
		mctx, span := bus.StartSpan(ctx, l.tracer, "load", msg)
		links = append(links, trace.LinkFromContext(mctx))
		b := &sluicev1.RowBatch{}
		if err := proto.Unmarshal(msg.Data(), b); err != nil {
			errs[i] = bus.Permanent(fmt.Errorf("decode row batch on %s: %w", msg.Subject(), err))
			endSpan(span, errs[i])
			continue
		}
		it := &item{i: i, msg: msg, batch: b, ctx: mctx, span: span}
		if _, ok := groups[b.GetTable()]; !ok {
			order = append(order, b.GetTable())
		}
		groups[b.GetTable()] = append(groups[b.GetTable()], it)
	}
	bctx, bspan := l.tracer.Start(ctx, "load batch", trace.WithLinks(links...), trace.WithAttributes(attribute.Int("sluice.messages", len(msgs))))
	defer bspan.End()
	for _, table := range order {
		items := groups[table]
		t, err := l.prepare(bctx, items)
		if err == nil {
			err = l.load(bctx, t, items)
		}
		for _, it := range items {
			if err != nil && errs[it.i] == nil {
				errs[it.i] = err
			}
			it.span.AddLink(trace.LinkFromContext(bctx))
			endSpan(it.span, errs[it.i])
		}
	}
	l.duration.Record(ctx, time.Since(start).Seconds())
	return errs
}

func endSpan(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// prepare migrates the table to the newest spec and converts every message's rows;
// a message whose rows do not fit the spec fails permanently.
func (l *loader) prepare(ctx context.Context, items []*item) (pgload.Table, error) {
	first := items[0].batch
	sp, err := l.specs.Get(ctx, first.GetProvider(), first.GetDataset())
	if err != nil {
		return pgload.Table{}, err
	}
	t := tableOf(sp)
	if err := l.pg.Ensure(ctx, t); err != nil {
		if pgload.IsPermanent(err) {
			return t, bus.Permanent(err)
		}
		return t, err
	}
	for _, it := range items {
		rows, err := convert(t, it.batch)
		if err != nil {
			it.rows = nil
			it.span.RecordError(err)
			return t, bus.Permanent(err)
		}
		it.rows = rows
	}
	return t, nil
}

func tableOf(sp *spec.Spec) pgload.Table {
	t := pgload.Table{Name: sp.Table, PrimaryKey: sp.PrimaryKey}
	for _, c := range sp.Columns {
		t.Columns = append(t.Columns, pgload.Column{Name: c.Name, Type: c.Type.PostgresType()})
	}
	return t
}

// convert maps a batch's columns onto the table's; columns the batch lacks (rows made by
// an older spec version) are null.
func convert(t pgload.Table, b *sluicev1.RowBatch) ([]pgload.Row, error) {
	pos := make([]int, len(t.Columns))
	for i, c := range t.Columns {
		pos[i] = -1
		for j, name := range b.GetColumns() {
			if name == c.Name {
				pos[i] = j
			}
		}
	}
	for _, name := range b.GetColumns() {
		found := false
		for _, c := range t.Columns {
			found = found || c.Name == name
		}
		if !found {
			return nil, fmt.Errorf("record %s: column %q is not in table %s's spec", b.GetRecordId(), name, t.Name)
		}
	}
	extracted := b.GetExtractedAt().AsTime()
	rows := make([]pgload.Row, 0, len(b.GetRows()))
	for _, r := range b.GetRows() {
		vals := make([]any, len(t.Columns))
		for i, p := range pos {
			if p < 0 {
				continue
			}
			if p >= len(r.GetValues()) {
				return nil, fmt.Errorf("record %s row %d: %d values for %d columns", b.GetRecordId(), r.GetIndex(), len(r.GetValues()), len(b.GetColumns()))
			}
			v, err := pgload.GoValue(r.GetValues()[p])
			if err != nil {
				return nil, fmt.Errorf("record %s row %d column %s: %w", b.GetRecordId(), r.GetIndex(), t.Columns[i].Name, err)
			}
			vals[i] = v
		}
		rows = append(rows, pgload.Row{Values: vals, RecordID: b.GetRecordId(), TraceID: b.GetTraceId(), ExtractedAt: extracted})
	}
	return rows, nil
}
