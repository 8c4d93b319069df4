package main

import (
	"bytes"
	"context"
	"errors"
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
	"github.com/sluice-dev/sluice/internal/rowbatch"
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
	objects  *blob.External
	specs    *specstore.Store
	cache    *spec.Cache
	dlq      *bus.DeadLetters
	cfg      serviceConfig
	rows     metric.Int64Counter
	rejected metric.Int64Counter
}

func newTransformer(rt *service.Runtime, blobs *blob.Store, objects *blob.External, specs *specstore.Store, cache *spec.Cache, dlq *bus.DeadLetters, cfg serviceConfig) (*transformer, error) {
	m := rt.Telemetry.Meter
	rows, err := m.Int64Counter("sluice.transform.rows", metric.WithDescription("rows produced"))
	if err != nil {
		return nil, err
	}
	rejected, err := m.Int64Counter("sluice.transform.rejected", metric.WithDescription("rows rejected by parsing or validation, sent to the DLQ"))
	if err != nil {
		return nil, err
	}
	return &transformer{rt: rt, blobs: blobs, objects: objects, specs: specs, cache: cache, dlq: dlq, cfg: cfg, rows: rows, rejected: rejected}, nil
}

// handle transforms one staged record. Good rows are published in bounded batches; a bad
// row goes to the DLQ with its own bytes, index and reason and the rest of the record
// proceeds. Only a payload whose bytes cannot be read (corrupt JSON, truncated gzip,
// broken CSV) fails the record for good; a failure of S3, of a ROWS publish or of a DLQ
// publish is retried, as is a record whose spec is not registered yet (an outage: the
// consumer holds it without spending deliveries).
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
		return specError(rec, err)
	}
	prog, err := t.cache.Compile(sp)
	if err != nil {
		return bus.Permanent(fmt.Errorf("spec %s v%d: %w", sp.Key(), sp.Version, err))
	}
	trace.SpanFromContext(ctx).SetAttributes(attribute.String("sluice.provider", rec.GetProvider()), attribute.String("sluice.dataset", rec.GetDataset()), attribute.Int64("sluice.spec_version", sp.Version))

	body, err := t.open(ctx, rec)
	if err != nil {
		return classify(rec, sp, err)
	}
	defer body.Close()
	src, err := rowsource.Open(sp.Format, body)
	if err != nil {
		return bus.Permanent(fmt.Errorf("record %s: %w", rec.GetId(), err))
	}
	out := &batcher{t: t, ctx: ctx, rec: rec, sp: sp, replay: msg.Headers().Get(bus.HeaderReplay), pub: bus.NewBatch(t.rt.JS)}
	reject := func(re transform.RowError) error {
		t.rejected.Add(ctx, 1, metric.WithAttributes(attribute.String("dataset", sp.Key())))
		// The letter holds the row's own bytes and points at the staged record (record id,
		// stream sequence); the record itself stays in staging, not once per bad row here.
		return t.dlq.SourceRow(ctx, msg, re.Index, re.Error(), src.Raw(), rec.GetContentType())
	}
	stats, err := transform.Run(ctx, prog, spec.Record{
		Provider: rec.GetProvider(), Dataset: rec.GetDataset(), SourceKey: rec.GetSourceKey(),
		RunID: rec.GetRunId(), ExtractedAt: rec.GetExtractedAt().AsTime(), Attributes: rec.GetAttributes(),
	}, src, out.add, reject)
	if err != nil {
		return classify(rec, sp, err)
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

// specError classifies a failure to get a record's spec: not registered yet is an outage
// (the provider's extractor has not started; the consumer holds the record without
// spending deliveries), anything else a transient failure.
func specError(rec *sluicev1.Record, err error) error {
	if errors.Is(err, specstore.ErrNotFound) {
		return bus.Unavailable("spec "+rec.GetProvider()+"/"+rec.GetDataset(), err)
	}
	return err
}

// classify marks a failure to read a record permanent only when the payload's bytes are
// at fault: retrying the same bytes cannot help. Anything else (S3, a publish, the DLQ,
// shutdown) is retried; what was published before it dedupes on the retry.
func classify(rec *sluicev1.Record, sp *spec.Spec, err error) error {
	if rowsource.IsDataError(err) {
		return bus.Permanent(fmt.Errorf("record %s (%s): %w", rec.GetId(), sp.Key(), err))
	}
	return fmt.Errorf("record %s (%s): %w", rec.GetId(), sp.Key(), err)
}

// open streams the decoded payload; claim-checked payloads stream from S3.
func (t *transformer) open(ctx context.Context, rec *sluicev1.Record) (io.ReadCloser, error) {
	var r io.ReadCloser
	switch p := rec.GetPayload().(type) {
	case *sluicev1.Record_Inline:
		r = io.NopCloser(bytes.NewReader(p.Inline))
	case *sluicev1.Record_ClaimCheck:
		cc := p.ClaimCheck
		var body io.ReadCloser
		var err error
		if cc.GetExternal() {
			// The source's own object, streamed from where it lies.
			body, err = t.objects.Open(ctx, blob.Ref{
				Endpoint: cc.GetEndpoint(), Region: cc.GetRegion(), Credentials: cc.GetCredentials(),
				Bucket: cc.GetBucket(), Key: cc.GetKey(), VersionID: cc.GetVersionId(), ETag: cc.GetEtag(),
			})
			if errors.Is(err, blob.ErrObjectChanged) {
				// Those bytes are gone for good; the new version is a new record.
				return nil, bus.Permanent(fmt.Errorf("open object: %w", err))
			}
		} else {
			body, err = t.blobs.Open(ctx, cc.GetBucket(), cc.GetKey())
		}
		if err != nil {
			return nil, fmt.Errorf("open claim check: %w", err)
		}
		r = body
	}
	dec, err := rowsource.Decode(rec.GetContentEncoding(), r)
	if err != nil {
		r.Close()
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{dec, r}, nil
}

// batcher encodes rows into RowBatch messages of bounded size as they are produced.
type batcher struct {
	t      *transformer
	ctx    context.Context
	rec    *sluicev1.Record
	sp     *spec.Spec
	replay string
	pub    *bus.Batch
	enc    *rowbatch.Encoder
	part   int32
}

func (b *batcher) add(row *sluicev1.Row) error {
	if b.enc == nil {
		enc, err := rowbatch.NewEncoder(&sluicev1.RowBatch{
			Table: b.sp.Table, Provider: b.rec.GetProvider(), Dataset: b.rec.GetDataset(),
			SpecVersion: b.sp.Version, RecordId: b.rec.GetId(), TraceId: telemetry.TraceID(b.ctx),
			ExtractedAt: b.rec.GetExtractedAt(), Columns: b.sp.ColumnNames(), DataVersion: b.rec.GetDataVersion(),
		})
		if err != nil {
			return err
		}
		b.enc = enc
	}
	b.enc.Add(row)
	if b.enc.Rows() >= b.t.cfg.RowsPerBatch || b.enc.Size() >= b.t.cfg.BytesPerBatch {
		return b.flush()
	}
	return nil
}

func (b *batcher) flush() error {
	if b.enc == nil || b.enc.Rows() == 0 {
		return nil
	}
	first, last := b.enc.Span()
	err := b.pub.Add(b.ctx, bus.Message{
		Subject: bus.RowsSubject(b.sp.Table), MsgID: batchID(b.rec.GetId(), b.sp.Version, first, last, b.replay),
		Body:     b.enc.Flush(b.part),
		RecordID: b.rec.GetId(), Provider: b.rec.GetProvider(), Dataset: b.rec.GetDataset(),
	})
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

// batchID is the Nats-Msg-Id of the batch holding rows first to last (Row.index) of a
// record transformed by a spec version. It names the content, not the batching: a record
// redelivered after --rows-per-batch or --bytes-per-batch changed is cut at other places,
// and a part number would then name different rows and dedupe them away against the
// earlier delivery's parts; a row range cannot. Which rows of the range a batch holds is
// fixed by the record and the spec version (rejected rows are left out alike every time).
// A new spec version or a replay produces new messages on purpose.
func batchID(recordID string, specVersion, first, last int64, replay string) string {
	id := recordID + ":v" + strconv.FormatInt(specVersion, 10) + ":rows=" + strconv.FormatInt(first, 10) + "-" + strconv.FormatInt(last, 10)
	if replay != "" {
		id += ":replay:" + replay
	}
	return id
}
