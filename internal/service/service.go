// Package service assembles what every sluice service runs on: a structured logger with
// trace ids, telemetry, a NATS JetStream connection with the streams provisioned, and the
// health/metrics endpoint; and it runs the service's work until shutdown, then drains.
package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/sluice-dev/sluice/internal/bus"
	"github.com/sluice-dev/sluice/internal/config"
	"github.com/sluice-dev/sluice/internal/lifecycle"
	"github.com/sluice-dev/sluice/internal/telemetry"
)

// Runtime is a started service.
type Runtime struct {
	Name      string
	Log       *slog.Logger
	Telemetry *telemetry.Telemetry
	NC        *nats.Conn
	JS        jetstream.JetStream
	Endpoint  *lifecycle.Endpoint
	cfg       config.Service
}

// Start brings up logging, telemetry, NATS (provisioning streams and buckets) and the
// endpoint. cfg must already be validated.
func Start(ctx context.Context, name string, cfg config.Service, stderr io.Writer) (*Runtime, error) {
	level, err := config.ParseLevel(cfg.LogLevel)
	if err != nil {
		return nil, err
	}
	log := telemetry.NewLogger(stderr, cfg.LogFormat, level).With("service", name)
	tel, err := telemetry.Setup(ctx, telemetry.Config{ServiceName: name, ServiceInstance: cfg.Instance, OTLPEndpoint: cfg.OTLPEndpoint, SampleRatio: cfg.SampleRatio,
		OTLPTLS: telemetry.TLS{Insecure: cfg.OTLPInsecure, CAFile: cfg.OTLPCAFile, CertFile: cfg.OTLPCertFile, KeyFile: cfg.OTLPKeyFile}})
	if err != nil {
		return nil, err
	}
	nc, js, err := bus.Connect(ctx, cfg.NATS, name, log)
	if err != nil {
		_ = tel.Shutdown(ctx)
		return nil, err
	}
	pc := bus.DefaultProvision()
	pc.Replicas, pc.KeepExisting = cfg.StreamReplicas, true
	if err := bus.Provision(ctx, js, pc); err != nil {
		nc.Close()
		_ = tel.Shutdown(ctx)
		return nil, err
	}
	// Every service exports the DLQ's fill level, so the alert on it works whichever run.
	if _, err := bus.ExportDLQUsage(js); err != nil {
		nc.Close()
		_ = tel.Shutdown(ctx)
		return nil, err
	}
	ep, err := lifecycle.NewEndpoint(cfg.HTTPAddr, tel.MetricsHandler())
	if err != nil {
		nc.Close()
		_ = tel.Shutdown(ctx)
		return nil, err
	}
	ep.AddCheck("nats", bus.ReadyCheck(nc))
	log.Info("started", "nats", nc.ConnectedUrlRedacted(), "http", ep.Addr(), "otlp", cfg.OTLPEndpoint)
	return &Runtime{Name: name, Log: log, Telemetry: tel, NC: nc, JS: js, Endpoint: ep, cfg: cfg}, nil
}

// Run runs work and the endpoint until ctx ends or work returns, then drains the NATS
// connection and flushes telemetry within the shutdown timeout.
func (r *Runtime) Run(ctx context.Context, work func(ctx context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return r.Endpoint.Serve(gctx, r.Log) })
	g.Go(func() error {
		defer cancel() // work is done: stop the endpoint too
		return work(gctx)
	})
	err := g.Wait()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	r.Log.Info("shutting down")
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.ShutdownTimeout)
	defer scancel()
	if derr := drain(sctx, r.NC); derr != nil {
		r.Log.Warn("nats drain", "err", derr)
	}
	if terr := r.Telemetry.Shutdown(sctx); terr != nil {
		r.Log.Warn("telemetry flush", "err", terr)
	}
	return err
}

func drain(ctx context.Context, nc *nats.Conn) error {
	closed := make(chan struct{})
	nc.SetClosedHandler(func(*nats.Conn) { close(closed) })
	if err := nc.Drain(); err != nil {
		nc.Close()
		return fmt.Errorf("drain: %w", err)
	}
	select {
	case <-closed:
		return nil
	case <-ctx.Done():
		nc.Close()
		return fmt.Errorf("drain: %w", ctx.Err())
	case <-time.After(10 * time.Second):
		nc.Close()
		return errors.New("drain: timed out")
	}
}
