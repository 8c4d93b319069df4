package main

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/errgroup"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sluice-dev/sluice/internal/bus"
	"github.com/sluice-dev/sluice/internal/envelope"
	"github.com/sluice-dev/sluice/internal/service"
	"github.com/sluice-dev/sluice/internal/staging"
	"github.com/sluice-dev/sluice/internal/telemetry"
	sluicev1 "github.com/sluice-dev/sluice/proto/sluice/v1"
)

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(args, getenv, stdout)
	if err != nil {
		return err
	}
	rt, err := service.Start(ctx, "staging-store", cfg.Service, stderr)
	if err != nil {
		return err
	}
	if cfg.Pprof {
		servePprof(rt.Endpoint)
	}
	store, err := staging.Open(ctx, cfg.Mongo)
	if err != nil {
		return err
	}
	defer store.Close(context.WithoutCancel(ctx))
	rt.Endpoint.AddCheck("document-store", store.Ping)

	cons, err := bus.NewConsumer(rt.JS, bus.ConsumerConfig{
		Stream: bus.StreamRaw, Durable: "staging-store", Stage: "stage",
		MaxAckPending: cfg.Delivery.MaxAckPending, MaxDeliver: cfg.Delivery.MaxDeliver, AckWait: cfg.Delivery.AckWait,
		Workers: 1, DrainTimeout: cfg.Service.ShutdownTimeout,
		Targets: []bus.Target{{Name: "document-store", Check: store.Ping}},
	}, rt.Telemetry.Tracer, rt.Log)
	if err != nil {
		return err
	}
	rt.Endpoint.AddCheck("consumer", cons.Ready)
	s, err := newStager(rt, store)
	if err != nil {
		return err
	}
	ret, err := newRetention(rt, store, cfg.Retention, cfg.RetentionInterval)
	if err != nil {
		return err
	}
	return rt.Run(ctx, func(ctx context.Context) error {
		g, ctx := errgroup.WithContext(ctx)
		g.Go(func() error { return cons.RunBatches(ctx, cfg.Batch, s.handle) })
		if cfg.Retention > 0 {
			g.Go(func() error { return ret.run(ctx) })
		}
		return g.Wait()
	})
}

type stager struct {
	rt       *service.Runtime
	store    *staging.Store
	staged   metric.Int64Counter
	dupes    metric.Int64Counter
	mu       sync.Mutex
	indexed  map[string]bool
	tracer   trace.Tracer
	stageDur metric.Float64Histogram
}

func newStager(rt *service.Runtime, store *staging.Store) (*stager, error) {
	m := rt.Telemetry.Meter
	staged, err := m.Int64Counter("sluice.stage.records", metric.WithDescription("raw records staged (new documents)"))
	if err != nil {
		return nil, err
	}
	dupes, err := m.Int64Counter("sluice.stage.duplicates", metric.WithDescription("raw records that were already staged"))
	if err != nil {
		return nil, err
	}
	dur, err := m.Float64Histogram("sluice.stage.batch.duration", metric.WithUnit("s"), metric.WithDescription("time to stage one batch"))
	if err != nil {
		return nil, err
	}
	return &stager{rt: rt, store: store, staged: staged, dupes: dupes, indexed: map[string]bool{}, tracer: rt.Telemetry.Tracer, stageDur: dur}, nil
}

// handle stages a batch: decode, bulk insert per provider, publish to STAGED, and only then
// report success for each message (which acks it).
func (s *stager) handle(ctx context.Context, msgs []jetstream.Msg) []error {
	start := time.Now()
	errs := make([]error, len(msgs))
	type item struct {
		i    int
		rec  *sluicev1.Record
		ctx  context.Context
		span trace.Span
	}
	byProvider := map[string][]item{}
	for i, msg := range msgs {
		mctx, span := bus.StartSpan(ctx, s.tracer, "stage", msg)
		rec := &sluicev1.Record{}
		if err := proto.Unmarshal(msg.Data(), rec); err != nil {
			errs[i] = bus.Permanent(fmt.Errorf("decode raw record on %s: %w", msg.Subject(), err))
		} else if err := envelope.Validate(rec); err != nil {
			errs[i] = bus.Permanent(err)
		}
		if errs[i] != nil {
			span.RecordError(errs[i])
			span.SetStatus(codes.Error, errs[i].Error())
			span.End()
			continue
		}
		byProvider[rec.GetProvider()] = append(byProvider[rec.GetProvider()], item{i, rec, mctx, span})
	}
	now := time.Now()
	for provider, items := range byProvider {
		// The indexes serve replay and retention, not staging: without them records are
		// still staged, and the next batch tries again.
		if err := s.ensureIndexes(ctx, provider); err != nil {
			s.rt.Log.WarnContext(ctx, "replay indexes not created; staging continues", "provider", provider, "err", err)
		}
		docs := make([]staging.Document, len(items))
		for j, it := range items {
			docs[j] = staging.FromRecord(it.rec, telemetry.TraceID(it.ctx), now)
		}
		res := s.store.Insert(ctx, provider, docs)
		s.staged.Add(ctx, int64(res.Inserted))
		s.dupes.Add(ctx, int64(res.Duplicates))
		batch := bus.NewBatch(s.rt.JS)
		var published []item
		for j, it := range items {
			if errs[it.i] == nil {
				errs[it.i] = res.Errs[j]
			}
			if errs[it.i] != nil {
				continue
			}
			it.rec.StagedAt = timestamppb.New(now)
			if err := batch.Add(it.ctx, bus.Message{
				Subject:  bus.StagedSubject(it.rec.GetProvider(), it.rec.GetDataset()),
				MsgID:    it.rec.GetId(),
				Body:     it.rec,
				RecordID: it.rec.GetId(),
				Provider: it.rec.GetProvider(),
				Dataset:  it.rec.GetDataset(),
			}); err != nil {
				errs[it.i] = err
				continue
			}
			published = append(published, it)
		}
		if err := batch.Wait(ctx); err != nil {
			// Some publish failed: retry them all; STAGED drops the duplicates by Msg-Id.
			for _, it := range published {
				errs[it.i] = err
			}
		}
		for _, it := range items {
			if errs[it.i] != nil {
				it.span.RecordError(errs[it.i])
				it.span.SetStatus(codes.Error, errs[it.i].Error())
			}
			it.span.End()
		}
	}
	s.stageDur.Record(ctx, time.Since(start).Seconds())
	return errs
}

func (s *stager) ensureIndexes(ctx context.Context, provider string) error {
	s.mu.Lock()
	done := s.indexed[provider]
	s.mu.Unlock()
	if done {
		return nil
	}
	if err := s.store.EnsureIndexes(ctx, provider); err != nil {
		return err
	}
	s.mu.Lock()
	s.indexed[provider] = true
	s.mu.Unlock()
	return nil
}
