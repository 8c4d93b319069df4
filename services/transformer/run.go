package main

import (
	"context"
	"io"

	"golang.org/x/sync/errgroup"

	"github.com/sluice-dev/sluice/internal/blob"
	"github.com/sluice-dev/sluice/internal/bus"
	"github.com/sluice-dev/sluice/internal/service"
	"github.com/sluice-dev/sluice/internal/spec"
	"github.com/sluice-dev/sluice/internal/specstore"
)

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(args, getenv, stdout)
	if err != nil {
		return err
	}
	rt, err := service.Start(ctx, "transformer", cfg.Service, stderr)
	if err != nil {
		return err
	}
	if cfg.Pprof {
		servePprof(rt.Endpoint)
	}
	blobs, err := blob.New(cfg.S3)
	if err != nil {
		return err
	}
	specs, err := specstore.Open(ctx, rt.JS)
	if err != nil {
		return err
	}
	cons, err := bus.NewConsumer(rt.JS, bus.ConsumerConfig{
		Stream: bus.StreamStaged, Durable: "transformer", Stage: "transform",
		MaxAckPending: cfg.Delivery.MaxAckPending, MaxDeliver: cfg.Delivery.MaxDeliver, AckWait: cfg.Delivery.AckWait,
		Workers: cfg.Workers, DrainTimeout: cfg.Service.ShutdownTimeout,
		Targets: []bus.Target{{Name: "object-store", Check: blobs.Ping}},
	}, rt.Telemetry.Tracer, rt.Log)
	if err != nil {
		return err
	}
	rt.Endpoint.AddCheck("consumer", cons.Ready)
	rt.Endpoint.AddCheck("specs", specs.Ready)
	// Objects that providers reference where they lie (external claim checks) are
	// read with credentials named in the record, from this environment.
	objects := blob.NewExternal(getenv, blob.Endpoint{AccessKey: cfg.S3.AccessKey, SecretKey: cfg.S3.SecretKey})
	tr, err := newTransformer(rt, blobs, objects, specs, spec.NewCache(), cons.DeadLetters(), cfg)
	if err != nil {
		return err
	}
	return rt.Run(ctx, func(ctx context.Context) error {
		g, ctx := errgroup.WithContext(ctx)
		g.Go(func() error { return specs.Watch(ctx, rt.Log) })
		g.Go(func() error { return cons.Run(ctx, tr.handle) })
		return g.Wait()
	})
}
