package main

import (
	"context"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/sluice-dev/sluice/internal/bus"
	"github.com/sluice-dev/sluice/internal/pgload"
	"github.com/sluice-dev/sluice/internal/service"
	"github.com/sluice-dev/sluice/internal/specstore"
)

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(args, getenv, stdout)
	if err != nil {
		return err
	}
	rt, err := service.Start(ctx, "loader", cfg.Service, stderr)
	if err != nil {
		return err
	}
	if cfg.Pprof {
		servePprof(rt.Endpoint)
	}
	pcfg, err := pgxpool.ParseConfig(cfg.PostgresURL)
	if err != nil {
		return fmt.Errorf("--postgres-url: %w", err)
	}
	pcfg.MaxConns = int32(cfg.MaxConns)
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return fmt.Errorf("connect postgres: %w", err)
	}
	defer pool.Close()
	if err := pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping postgres %s: %w", redact(cfg.PostgresURL), err)
	}
	rt.Endpoint.AddCheck("postgres", pool.Ping)

	specs, err := specstore.Open(ctx, rt.JS)
	if err != nil {
		return err
	}
	cc := bus.ConsumerConfig{
		Stream: bus.StreamRows, Durable: "loader", Stage: "load",
		MaxAckPending: cfg.Delivery.MaxAckPending, MaxDeliver: cfg.Delivery.MaxDeliver, AckWait: cfg.Delivery.AckWait,
		Workers: 1, DrainTimeout: cfg.Service.ShutdownTimeout,
		Targets: []bus.Target{{Name: "postgres", Check: pool.Ping}},
	}
	cons, err := bus.NewConsumer(rt.JS, cc, rt.Telemetry.Tracer, rt.Log)
	if err != nil {
		return err
	}
	rt.Endpoint.AddCheck("consumer", cons.Ready)
	rt.Endpoint.AddCheck("specs", specs.Ready)
	l, err := newLoader(rt, pgload.New(pool), specs, cons.DeadLetters(), cfg.MaxConns)
	if err != nil {
		return err
	}
	return rt.Run(ctx, func(ctx context.Context) error {
		g, ctx := errgroup.WithContext(ctx)
		g.Go(func() error { return specs.Watch(ctx, rt.Log) })
		g.Go(func() error { return l.consume(ctx, cons, cfg.Batch) })
		return g.Wait()
	})
}
