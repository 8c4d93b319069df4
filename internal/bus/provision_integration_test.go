package bus

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/sluice-dev/sluice/internal/config"
	"github.com/sluice-dev/sluice/internal/testinfra"
	sluicev1 "github.com/sluice-dev/sluice/proto/sluice/v1"
)

// TestDLQBoundedByBytesKeepsOldLetters fills a small DLQ: the publish that does not fit
// fails (so the consumer retries the message instead of losing it), the dead letters
// already held stay, and the usage gauges report the fill level and the bound. It starts
// from a DLQ provisioned by an older sluice (unbounded, discard old), as an upgrade would.
func TestDLQBoundedByBytesKeepsOldLetters(t *testing.T) {
	url := testinfra.PrivateNATS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	nc, js, err := Connect(ctx, config.NATS{URL: url}, "bus-test", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: StreamDLQ, Subjects: []string{"sluice.dlq.>"},
		MaxAge: time.Hour, Storage: jetstream.FileStorage, Discard: jetstream.DiscardOld}); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultProvision()
	cfg.DLQMaxBytes = minDLQMaxBytes
	if err := Provision(ctx, js, cfg); err != nil {
		t.Fatalf("provision over an unbounded DLQ: %v", err)
	}
	stream, err := js.Stream(ctx, StreamDLQ)
	if err != nil {
		t.Fatal(err)
	}
	if c := stream.CachedInfo().Config; c.MaxBytes != minDLQMaxBytes || c.Discard != jetstream.DiscardNew {
		t.Fatalf("DLQ max bytes %d discard %v, want %d and discard new", c.MaxBytes, c.Discard, minDLQMaxBytes)
	}

	reader := sdkmetric.NewManualReader()
	prev := otel.GetMeterProvider()
	otel.SetMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)))
	t.Cleanup(func() { otel.SetMeterProvider(prev) })
	stop, err := ExportDLQUsage(js)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()

	letter := func(i int) error {
		_, err := Publish(ctx, js, Message{Subject: DLQSubject("load", "acme", "items"), MsgID: fmt.Sprint("letter-", i),
			Body: &sluicev1.DeadLetter{Stage: "load", Reason: "test", Data: bytes.Repeat([]byte{'x'}, 512<<10)}})
		return err
	}
	var held int
	for ; held < 100; held++ {
		if err := letter(held); err != nil {
			t.Logf("dead letter %d refused: %v", held, err)
			break
		}
	}
	if held == 0 || held == 100 {
		t.Fatalf("%d dead letters of 512 KiB fit a DLQ of %d bytes", held, minDLQMaxBytes)
	}
	if err := letter(held + 1); err == nil {
		t.Fatal("a second dead letter beyond the bound was accepted")
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != uint64(held) || info.State.FirstSeq != 1 {
		t.Fatalf("DLQ holds %d letters from sequence %d, want the %d first ones: old dead letters were discarded",
			info.State.Msgs, info.State.FirstSeq, held)
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if g, ok := m.Data.(metricdata.Gauge[int64]); ok && len(g.DataPoints) == 1 {
				got[m.Name] = g.DataPoints[0].Value
			}
		}
	}
	if got["sluice.dlq.max_bytes"] != minDLQMaxBytes || got["sluice.dlq.bytes"] != int64(info.State.Bytes) ||
		got["sluice.dlq.messages"] != int64(held) {
		t.Fatalf("gauges %v, want bytes %d, max_bytes %d, messages %d", got, info.State.Bytes, minDLQMaxBytes, held)
	}
}
