package telemetry

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

func TestTraceContextRoundTripsThroughNATSHeaders(t *testing.T) {
	t.Parallel()
	tp := sdktrace.NewTracerProvider()
	defer tp.Shutdown(context.Background()) //nolint:errcheck
	ctx, span := tp.Tracer("test").Start(context.Background(), "extract")
	defer span.End()

	h := nats.Header{}
	Inject(ctx, h)
	if h.Get("traceparent") == "" {
		t.Fatalf("no traceparent header after Inject: %v", h)
	}
	got := trace.SpanContextFromContext(Extract(context.Background(), h))
	want := span.SpanContext()
	if got.TraceID() != want.TraceID() || got.SpanID() != want.SpanID() || !got.IsRemote() {
		t.Fatalf("extracted %v, want trace %s span %s (remote)", got, want.TraceID(), want.SpanID())
	}
	if TraceID(ctx) != want.TraceID().String() {
		t.Fatalf("TraceID = %q, want %s", TraceID(ctx), want.TraceID())
	}
}

func TestExtractWithoutHeadersKeepsContext(t *testing.T) {
	t.Parallel()
	for _, h := range []nats.Header{nil, {}, {"traceparent": {"garbage"}}} {
		if sc := trace.SpanContextFromContext(Extract(context.Background(), h)); sc.IsValid() {
			t.Fatalf("headers %v produced a span context %v", h, sc)
		}
	}
}

func TestCarrierKeysAreCaseSensitive(t *testing.T) {
	t.Parallel()
	c := HeaderCarrier(nats.Header{})
	c.Set("traceparent", "x")
	if c.Get("traceparent") != "x" || c.Get("Traceparent") != "" {
		t.Fatalf("carrier must keep keys exactly as set: %v", c)
	}
	if keys := c.Keys(); len(keys) != 1 || keys[0] != "traceparent" {
		t.Fatalf("keys = %v", keys)
	}
}
