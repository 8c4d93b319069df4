package bus

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/protobuf/proto"

	"github.com/sluice-dev/sluice/internal/config"
	"github.com/sluice-dev/sluice/internal/testinfra"
	sluicev1 "github.com/sluice-dev/sluice/proto/sluice/v1"
)

func setup(t *testing.T) (context.Context, jetstream.JetStream) {
	t.Helper()
	url := testinfra.PrivateNATS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	nc, js, err := Connect(ctx, config.NATS{URL: url}, "bus-test", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if err := Provision(ctx, js, DefaultProvision()); err != nil {
		t.Fatal(err)
	}
	return ctx, js
}

func publishRecords(t *testing.T, ctx context.Context, js jetstream.JetStream, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if _, err := Publish(ctx, js, Message{Subject: RawSubject("demo", "items"), MsgID: id, RecordID: id, Body: &sluicev1.Record{Id: id}}); err != nil {
			t.Fatal(err)
		}
	}
}

func consumerConfig() ConsumerConfig {
	return ConsumerConfig{Stream: StreamRaw, Durable: "test", Stage: "stage", MaxAckPending: 16, MaxDeliver: 3, AckWait: 5 * time.Second, Workers: 2, DrainTimeout: 5 * time.Second}
}

func deadLetters(t *testing.T, ctx context.Context, js jetstream.JetStream, want int) []*sluicev1.DeadLetter {
	t.Helper()
	cons, err := js.OrderedConsumer(ctx, StreamDLQ, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var out []*sluicev1.DeadLetter
	for len(out) < want {
		msg, err := cons.Next(jetstream.FetchMaxWait(20 * time.Second))
		if err != nil {
			t.Fatalf("dead letters: got %d of %d: %v", len(out), want, err)
		}
		dl := &sluicev1.DeadLetter{}
		if err := proto.Unmarshal(msg.Data(), dl); err != nil {
			t.Fatal(err)
		}
		out = append(out, dl)
	}
	return out
}

func TestConsumerAcksRetriesAndDeadLetters(t *testing.T) {
	ctx, js := setup(t)
	publishRecords(t, ctx, js, "ok", "flaky", "poison", "hopeless")
	// A duplicate publish inside the window is dropped by the stream.
	publishRecords(t, ctx, js, "ok")

	var mu sync.Mutex
	calls := map[string]int{}
	cons, err := NewConsumer(js, consumerConfig(), noop.NewTracerProvider().Tracer(""), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- cons.Run(runCtx, func(_ context.Context, msg jetstream.Msg) error {
			id := msg.Headers().Get(HeaderRecordID)
			mu.Lock()
			calls[id]++
			n := calls[id]
			mu.Unlock()
			switch id {
			case "flaky":
				if n == 1 {
					return errors.New("database unavailable")
				}
			case "poison":
				return Permanent(errors.New("column cost: cannot convert \"abc\" to numeric"))
			case "hopeless":
				return errors.New("still down")
			}
			return nil
		})
	}()
	dls := deadLetters(t, ctx, js, 2)
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	reasons := map[string]*sluicev1.DeadLetter{}
	for _, dl := range dls {
		reasons[dl.GetRecordId()] = dl
	}
	if dl := reasons["poison"]; dl == nil || dl.GetReason() != `column cost: cannot convert "abc" to numeric` || dl.GetDeliveries() != 1 || dl.GetStage() != "stage" || dl.GetProvider() != "demo" {
		t.Errorf("poison dead letter = %+v, want the reason after one delivery", dl)
	}
	if dl := reasons["hopeless"]; dl == nil || dl.GetDeliveries() != 3 {
		t.Errorf("hopeless dead letter = %+v, want it after max deliver (3)", dl)
	}
	mu.Lock()
	defer mu.Unlock()
	if calls["ok"] != 1 || calls["flaky"] != 2 || calls["poison"] != 1 || calls["hopeless"] != 3 {
		t.Errorf("deliveries = %v, want ok:1 flaky:2 poison:1 hopeless:3", calls)
	}
	c, err := js.Consumer(ctx, StreamRaw, "test")
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.NumAckPending != 0 || info.NumPending != 0 {
		t.Errorf("consumer left pending %d, ack pending %d", info.NumPending, info.NumAckPending)
	}
}

func TestRunBatchesBoundsBatchesAndSettlesEach(t *testing.T) {
	ctx, js := setup(t)
	var ids []string
	for i := range 25 {
		ids = append(ids, string(rune('a'+i)))
	}
	publishRecords(t, ctx, js, ids...)
	cfg := consumerConfig()
	cons, err := NewConsumer(js, cfg, noop.NewTracerProvider().Tracer(""), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	var handled, maxBatch atomic.Int64
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- cons.RunBatches(runCtx, BatchConfig{MaxMessages: 10, MaxBytes: 1 << 20, MaxWait: 50 * time.Millisecond}, func(_ context.Context, msgs []jetstream.Msg) []error {
			if int64(len(msgs)) > maxBatch.Load() {
				maxBatch.Store(int64(len(msgs)))
			}
			handled.Add(int64(len(msgs)))
			return make([]error, len(msgs))
		})
	}()
	deadline := time.Now().Add(20 * time.Second)
	for handled.Load() < 25 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if handled.Load() != 25 {
		t.Fatalf("handled %d of 25", handled.Load())
	}
	if maxBatch.Load() > 10 {
		t.Fatalf("a batch held %d messages, limit 10", maxBatch.Load())
	}
}
