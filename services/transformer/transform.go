package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"strconv"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"

	"github.com/sluice-dev/sluice/internal/blob"
	"github.com/sluice-dev/sluice/internal/bus"
	"github.com/sluice-dev/sluice/internal/envelope"
	"github.com/sluice-dev/sluice/internal/rowsource"
	"github.com/sluice-dev/sluice/internal/service"
	"github.com/sluice-dev/sluice/internal/spec"
	"github.com/sluice-dev/sluice/internal/specstore"
	"github.com/sluice-dev/sluice/internal/telemetry"
	"github.com/sluice-dev/sluice/internal/transform"
	sluicev1 "github.com/sluice-dev/sluice/proto/sluice/v1"
)

type transformer struct {
	rt       *service.Runtime
	blobs    *blob.Store
	specs    *specstore.Store
	cache    *spec.Cache
	dlq      *bus.DeadLetters
	cfg      serviceConfig
	rows     metric.Int64Counter
	rejected metric.Int64Counter
}

func newTransformer(rt *service.Runtime, blobs *blob.Store, specs *specstore.Store, cache *spec.Cache, dlq *bus.DeadLetters, cfg serviceConfig) (*transformer, error) {
	m := rt.Telemetry.Meter
	rows, err := m.Int64Counter("sluice.transform.rows", metric.WithDescription("rows produced"))
	if err != nil {
		return nil, err
	}
	rejected, err := m.Int64Counter("sluice.transform.rejected", metric.WithDescription("rows rejected by parsing or validation, sent to the DLQ"))
	if err != nil {
		return nil, err
	}
	return &transformer{rt: rt, blobs: blobs, specs: specs, cache: cache, dlq: dlq, cfg: cfg, rows: rows, rejected: rejected}, nil
}

// handle transforms one staged record. Good rows are published in bounded batches; a bad
// row goes to the DLQ with its index and reason and the rest of the record proceeds; a
// payload that cannot be read at all fails the record.
func (t *transformer) handle(ctx context.Context, msg jetstream.Msg) error {
	rec := &sluicev1.Record{}
	if err := proto.Unmarshal(msg.Data(), rec); err != nil {
		return bus.Permanent(fmt.Errorf("decode staged record on %s: %w", msg.Subject(), err))
	}
	if err := envelope.Validate(rec); err != nil {
		return bus.Permanent(err)
	}
	sp, err := t.specs.Get(ctx, rec.GetProvider(), rec.GetDataset())
	if err != nil {
		return err // not registered yet: retry later
	}
	prog, err := t.cache.Compile(sp)
	if err != nil {
		return bus.Permanent(fmt.Errorf("spec %s v%d: %w", sp.Key(), sp.Version, err))
	}
	trace.SpanFromContext(ctx).SetAttributes(attribute.String("sluice.provider", rec.GetProvider()), attribute.String("sluice.dataset", rec.GetDataset()), attribute.Int64("sluice.spec_version", sp.Version))

	body, err := t.open(ctx, rec)
	if err != nil {
		return err
	}
	defer body.Close()
	src, err := rowsource.Open(sp.Format, body)
	if err != nil {
		return bus.Permanent(fmt.Errorf("record %s: %w", rec.GetId(), err))
	}
	out := &batcher{t: t, ctx: ctx, rec: rec, sp: sp, replay: msg.Headers().Get(bus.HeaderReplay), pub: bus.NewBatch(t.rt.JS)}
	reject := func(re transform.RowError) error {
		t.rejected.Add(ctx, 1, metric.WithAttributes(attribute.String("dataset", sp.Key())))
		return t.dlq.Row(ctx, msg, re.Index, re.Error(), nil)
	}
	stats, err := transform.Run(ctx, prog, spec.Record{
		Provider: rec.GetProvider(), Dataset: rec.GetDataset(), SourceKey: rec.GetSourceKey(),
		RunID: rec.GetRunId(), ExtractedAt: rec.GetExtractedAt().AsTime(), Attributes: rec.GetAttributes(),
	}, src, out.add, reject)
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		// The payload itself is unreadable (corrupt JSON, truncated gzip): retrying the same
		// bytes cannot help.
		return bus.Permanent(fmt.Errorf("record %s (%s): %w", rec.GetId(), sp.Key(), err))
	}
	if err := out.flush(); err != nil {
		return err
	}
	if err := out.pub.Wait(ctx); err != nil {
		return err
	}
	t.rows.Add(ctx, stats.Emitted, metric.WithAttributes(attribute.String("dataset", sp.Key())))
	return nil
}

// open streams the payload, decompressing gzip; claim-checked payloads stream from S3.
func (t *transformer) open(ctx context.Context, rec *sluicev1.Record) (io.ReadCloser, error) {
	var r io.ReadCloser
	switch p := rec.GetPayload().(type) {
	case *sluicev1.Record_Inline:
		r = io.NopCloser(bytes.NewReader(p.Inline))
	case *sluicev1.Record_ClaimCheck:
		body, err := t.blobs.Open(ctx, p.ClaimCheck.GetBucket(), p.ClaimCheck.GetKey())
		if err != nil {
			return nil, err
		}
		r = body
	}
	if rec.GetContentEncoding() == "gzip" {
		zr, err := gzip.NewReader(r)
		if err != nil {
			r.Close()
			return nil, bus.Permanent(fmt.Errorf("record %s: gzip: %w", rec.GetId(), err))
		}
		return struct {
			io.Reader
			io.Closer
		}{zr, r}, nil
	}
	return r, nil
}

// batcher encodes rows into RowBatch messages of bounded size as they are produced.
type batcher struct {
	t      *transformer
	ctx    context.Context
	rec    *sluicev1.Record
	sp     *spec.Spec
	replay string
	pub    *bus.Batch
	// head is the encoded header (table … columns), the same for every part of a record.
	head    []byte
	buf     []byte
	scratch []byte
	rows    int
	part    int32
}

func (b *batcher) add(row *sluicev1.Row) error {
	if b.head == nil {
		head, err := proto.Marshal(&sluicev1.RowBatch{
			Table: b.sp.Table, Provider: b.rec.GetProvider(), Dataset: b.rec.GetDataset(),
			SpecVersion: b.sp.Version, RecordId: b.rec.GetId(), TraceId: telemetry.TraceID(b.ctx),
			ExtractedAt: b.rec.GetExtractedAt(), Columns: b.sp.ColumnNames(),
		})
		if err != nil {
			return fmt.Errorf("encode row batch header: %w", err)
		}
		b.head = head
	}
	if b.rows == 0 {
		b.buf = append(b.buf[:0], b.head...)
	}
	b.buf, b.scratch = appendRowField(b.buf, b.scratch, row)
	b.rows++
	if b.rows >= b.t.cfg.RowsPerBatch || len(b.buf) >= b.t.cfg.BytesPerBatch {
		return b.flush()
	}
	return nil
}

func (b *batcher) flush() error {
	if b.rows == 0 {
		return nil
	}
	// The id makes a redelivered record's parts dedupe; a new spec version or a replay
	// produces new messages on purpose.
	id := b.rec.GetId() + ":v" + strconv.FormatInt(b.sp.Version, 10) + ":" + strconv.Itoa(int(b.part))
	if b.replay != "" {
		id += ":replay:" + b.replay
	}
	err := b.pub.Add(b.ctx, bus.Message{
		Subject: bus.RowsSubject(b.sp.Table), MsgID: id, Body: encodedRowBatch(appendPart(b.buf, b.part)),
		RecordID: b.rec.GetId(), Provider: b.rec.GetProvider(), Dataset: b.rec.GetDataset(),
	})
	b.rows = 0
	b.part++
	if err != nil {
		return err
	}
	// Bound the messages in flight per record.
	if b.pub.Len() >= 64 {
		return b.pub.Wait(b.ctx)
	}
	return nil
}
