package provider

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/sluice-dev/sluice/internal/blob"
	"github.com/sluice-dev/sluice/internal/bus"
	"github.com/sluice-dev/sluice/internal/envelope"
	sluicev1 "github.com/sluice-dev/sluice/proto/sluice/v1"
)

// emitter publishes a task's records to RAW. Each record starts its own trace (linked to
// the task's span) so that one trace in Jaeger follows one record end to end.
type emitter struct {
	js          jetstream.JetStream
	blobs       *blob.Store
	provider    string
	runID       string
	inlineLimit int
	tracer      trace.Tracer
	records     metric.Int64Counter
	bytes       metric.Int64Counter
	datasets    map[string]bool
}

func (e *emitter) Emit(ctx context.Context, r Raw) error {
	if !e.datasets[r.Dataset] {
		return fmt.Errorf("%w: emit: dataset %q is not one of provider %s's datasets", ErrPermanent, r.Dataset, e.provider)
	}
	if r.SourceKey == "" {
		return fmt.Errorf("%w: emit %s: empty source key", ErrPermanent, r.Dataset)
	}
	if (r.Body == nil) == (r.Object == nil) {
		return fmt.Errorf("%w: emit %s %s: want a body or an object reference, not both or neither", ErrPermanent, r.Dataset, r.SourceKey)
	}
	rctx, span := e.tracer.Start(context.WithoutCancel(ctx), "extract",
		trace.WithNewRoot(),
		trace.WithLinks(trace.LinkFromContext(ctx)),
		trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(
			attribute.String("sluice.provider", e.provider),
			attribute.String("sluice.dataset", r.Dataset),
			attribute.String("sluice.source_key", r.SourceKey),
			attribute.String("sluice.run_id", e.runID),
		))
	defer span.End()

	src := envelope.Source{
		Provider: e.provider, Dataset: r.Dataset, SourceKey: r.SourceKey, RunID: e.runID,
		ExtractedAt: time.Now().UTC(), ContentType: r.ContentType, ContentEncoding: r.ContentEncoding,
		Attributes: r.Attributes, DataVersion: r.DataVersion,
	}
	if r.Object != nil {
		return e.publish(ctx, rctx, span, r, envelope.NewClaimCheck(src, ObjectClaimCheck(*r.Object)))
	}
	// Read up to one byte past the inline limit: what fits travels inline, the rest is
	// streamed to S3 without ever holding the whole payload.
	head := make([]byte, e.inlineLimit+1)
	n, err := io.ReadFull(r.Body, head)
	var rec *sluicev1.Record
	switch {
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		rec = envelope.NewInline(src, head[:n])
	case err != nil:
		span.RecordError(err)
		return fmt.Errorf("read %s %s: %w", r.Dataset, r.SourceKey, err)
	default:
		if e.blobs == nil {
			return fmt.Errorf("%w: payload %s %s exceeds the inline limit of %d bytes and no S3 store is configured", ErrPermanent, r.Dataset, r.SourceKey, e.inlineLimit)
		}
		obj, err := e.blobs.PutContent(rctx, func(sum []byte) string { return ClaimKey(e.provider, r.Dataset, r.SourceKey, sum) },
			claimStagingKey(e.provider, r.Dataset, r.SourceKey), r.ContentType, io.MultiReader(bytes.NewReader(head[:n]), r.Body))
		if err != nil {
			span.RecordError(err)
			return fmt.Errorf("claim check %s %s: %w", r.Dataset, r.SourceKey, err)
		}
		rec = envelope.NewClaimCheck(src, &sluicev1.ClaimCheck{Bucket: obj.Bucket, Key: obj.Key, Size: obj.Size, Sha256: obj.SHA256})
		span.SetAttributes(attribute.String("sluice.claim_check", "s3://"+obj.Bucket+"/"+obj.Key))
	}
	return e.publish(ctx, rctx, span, r, rec)
}

// publish sends rec to RAW and counts it.
func (e *emitter) publish(ctx, rctx context.Context, span trace.Span, r Raw, rec *sluicev1.Record) error {
	span.SetAttributes(attribute.String("sluice.record_id", rec.GetId()), attribute.Int64("sluice.size", rec.GetSize()))
	if _, err := bus.Publish(rctx, e.js, bus.Message{
		Subject:  bus.RawSubject(e.provider, r.Dataset),
		MsgID:    rec.GetId(),
		Body:     rec,
		RecordID: rec.GetId(),
		Provider: e.provider,
		Dataset:  r.Dataset,
	}); err != nil {
		span.RecordError(err)
		return err
	}
	attrs := metric.WithAttributes(attribute.String("provider", e.provider), attribute.String("dataset", r.Dataset))
	e.records.Add(ctx, 1, attrs)
	e.bytes.Add(ctx, rec.GetSize(), attrs)
	return nil
}

// ClaimKey is the object key of a claim-checked payload: named by its record id, so an
// emit retried after a failure between upload and publish (or by another replica, or in
// a re-planned run) overwrites the one object of that record instead of leaving an
// orphan, and a re-extraction with different bytes (a new record) never overwrites the
// object an earlier record points to.
func ClaimKey(provider, dataset, sourceKey string, payloadSHA256 []byte) string {
	return "claims/" + provider + "/" + dataset + "/" + envelope.RecordID(provider, dataset, sourceKey, payloadSHA256)
}

// claimStagingKey is where a payload too large for one PUT is uploaded before it is
// copied to its ClaimKey (which is known only once every byte was hashed): one key per
// source, so a retry overwrites what a failed attempt left there.
func claimStagingKey(provider, dataset, sourceKey string) string {
	sum := sha256.Sum256([]byte(sourceKey))
	return "claims/" + provider + "/" + dataset + "/staging/" + hex.EncodeToString(sum[:16])
}

// ObjectClaimCheck is the external claim check of an object reference. Its sha256 digests
// the reference (where the object is and which version), not the bytes, which sluice
// never reads to emit it: the same version gives the same record id, a new version
// (another ETag or version id) a new one.
func ObjectClaimCheck(o ObjectRef) *sluicev1.ClaimCheck {
	h := sha256.New()
	for _, f := range []string{"s3objects.ref.v1", o.Endpoint, o.Bucket, o.Key, o.VersionID, o.ETag, strconv.FormatInt(o.Size, 10)} {
		h.Write([]byte(strconv.Itoa(len(f)) + ":" + f))
	}
	return &sluicev1.ClaimCheck{
		Bucket: o.Bucket, Key: o.Key, Size: o.Size, Sha256: h.Sum(nil),
		External: true, Endpoint: o.Endpoint, Region: o.Region, VersionId: o.VersionID, Etag: o.ETag, Credentials: o.Credentials,
	}
}
