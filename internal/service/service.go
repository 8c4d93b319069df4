// Package service runs a sluice service: signal handling (the first SIGTERM or SIGINT
// cancels the run context so the service drains; a second one exits at once), the health,
// readiness, metrics and pprof listeners, and what every service works on — a structured
// logger with trace ids, telemetry, a NATS JetStream connection with the streams
// provisioned; it runs the service's work until shutdown, then drains. Its configuration
// (flags and SLUICE_* variables) is package config, which bus and blob share.
package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/sluice-dev/sluice/internal/bus"
	"github.com/sluice-dev/sluice/internal/config"
	"github.com/sluice-dev/sluice/internal/telemetry"
)

// Runtime is a started service.
type Runtime struct {
	Name      string
	Log       *slog.Logger
	Telemetry *telemetry.Telemetry
	NC        *nats.Conn
	JS        jetstream.JetStream
	Endpoint  *Endpoint
	// listeners are the metrics and profile listeners, when apart from Endpoint.
	listeners []*Listener
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
	ep, metricsL, pprofL, err := listen(cfg, tel)
	if err != nil {
		nc.Close()
		_ = tel.Shutdown(ctx)
		return nil, err
	}
	ep.AddCheck("nats", bus.ReadyCheck(nc))
	attrs := []any{"nats", nc.ConnectedUrlRedacted(), "http", ep.Addr(), "otlp", cfg.OTLPEndpoint}
	var listeners []*Listener
	if metricsL != nil {
		attrs = append(attrs, "metrics", metricsL.Addr())
		listeners = append(listeners, metricsL)
	}
	if pprofL != nil {
		attrs = append(attrs, "pprof", pprofL.Addr())
		listeners = append(listeners, pprofL)
	}
	log.Info("started", attrs...)
	return &Runtime{Name: name, Log: log, Telemetry: tel, NC: nc, JS: js, Endpoint: ep, listeners: listeners, cfg: cfg}, nil
}

// listen opens the health endpoint and, each on its own address, /metrics (when
// --metrics-addr is set; otherwise it shares the health endpoint) and the profiles (when
// --pprof-addr is set, loopback only as validated); those two are nil when not separate.
func listen(cfg config.Service, tel *telemetry.Telemetry) (ep *Endpoint, metricsL, pprofL *Listener, err error) {
	defer func() {
		if err != nil {
			for _, l := range []*Listener{metricsL, pprofL} {
				if l != nil {
					l.Close()
				}
			}
		}
	}()
	metrics := tel.MetricsHandler()
	if cfg.MetricsAddr != "" {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", metrics)
		if metricsL, err = Listen(cfg.MetricsAddr, mux); err != nil {
			return nil, nil, nil, err
		}
		metrics = nil
	}
	if cfg.PprofAddr != "" {
		if pprofL, err = Listen(cfg.PprofAddr, PprofHandler()); err != nil {
			return nil, metricsL, nil, err
		}
	}
	ep, err = NewEndpoint(cfg.HTTPAddr, metrics)
	return ep, metricsL, pprofL, err
}

// Run runs work and the endpoint until ctx ends or work returns, then drains the NATS
// connection and flushes telemetry within the shutdown timeout.
func (r *Runtime) Run(ctx context.Context, work func(ctx context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return r.Endpoint.Serve(gctx, r.Log) })
	for _, l := range r.listeners {
		g.Go(func() error { return l.Serve(gctx, r.Log) })
	}
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
