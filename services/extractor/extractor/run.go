package extractor

import (
	"context"
	"fmt"
	"io"

	"golang.org/x/sync/errgroup"

	"github.com/sluice-dev/sluice/internal/blob"
	"github.com/sluice-dev/sluice/internal/bus"
	"github.com/sluice-dev/sluice/internal/service"
	"github.com/sluice-dev/sluice/internal/specstore"
	"github.com/sluice-dev/sluice/services/extractor/provider"
	"github.com/sluice-dev/sluice/services/extractor/provider/checkpoint"
	"github.com/sluice-dev/sluice/services/extractor/provider/jobs"
	"github.com/sluice-dev/sluice/services/extractor/trigger"
)

func (r registry) run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := r.parseConfig(args, getenv, stdout)
	if err != nil {
		return err
	}
	sp, _ := r.lookup(cfg.Provider)
	pcfg, err := providerConfig(sp, cfg.ProviderConfig)
	if err != nil {
		return err
	}
	rt, err := service.Start(ctx, "extractor-"+cfg.Provider, cfg.Service, stderr)
	if err != nil {
		return err
	}
	blobs, err := blob.New(cfg.S3)
	if err != nil {
		return err
	}
	if err := blobs.EnsureBucket(ctx); err != nil {
		return err
	}
	log := rt.Log.With("provider", cfg.Provider)
	services, closeServices, err := openServices(ctx, rt, sp, pcfg, cfg.Jobs, getenv)
	if err != nil {
		return err
	}
	defer closeServices()
	p, err := sp.New(pcfg, provider.Deps{Log: log, Meter: rt.Telemetry.Meter, Getenv: getenv, Services: services})
	if err != nil {
		return fmt.Errorf("provider %s: %w", cfg.Provider, err)
	}
	specs, err := specstore.Open(ctx, rt.JS)
	if err != nil {
		return err
	}
	for _, ds := range p.Datasets() {
		if ds.Provider != cfg.Provider {
			return fmt.Errorf("provider %s: dataset spec %s belongs to provider %q", cfg.Provider, ds.Key(), ds.Provider)
		}
		if err := specs.Register(ctx, ds); err != nil {
			return fmt.Errorf("provider %s: %w", cfg.Provider, err)
		}
		rt.Log.Info("dataset spec registered", "dataset", ds.Dataset, "version", ds.Version, "table", ds.Table)
	}
	runner, err := provider.NewRunner(cfg.Provider, p, rt.JS, blobs, cfg.Runner, rt.Telemetry.Tracer, rt.Telemetry.Meter, rt.Log)
	if err != nil {
		return err
	}
	rt.Endpoint.AddCheck("tasks", runner.Ready)
	params, _ := parseParams(cfg.ScheduleParams)            // validated
	catchUp, _ := trigger.ParseCatchUp(cfg.ScheduleCatchUp) // validated
	return rt.Run(ctx, func(ctx context.Context) error {
		g, ctx := errgroup.WithContext(ctx)
		g.Go(func() error { return runner.Run(ctx) })
		if cfg.Schedule != "" {
			s := &trigger.Schedule{Provider: cfg.Provider, Expr: cfg.Schedule, Params: params, CatchUp: catchUp, JS: rt.JS, State: services.Checkpoints, Log: log}
			g.Go(func() error { return s.Run(ctx) })
		}
		if cfg.Events {
			e := &trigger.Events{Provider: cfg.Provider, JS: rt.JS, Tracer: rt.Telemetry.Tracer, Log: log,
				Config: trigger.EventsConfig{MaxDeliver: cfg.Runner.MaxDeliver, DrainTimeout: cfg.Runner.DrainTimeout}}
			g.Go(func() error { return e.Run(ctx) })
		}
		return g.Wait()
	})
}

// openServices builds the provider's jobs and checkpoints stores and, when the provider
// declares them, its rate-governed HTTP client and its governor of other calls.
func openServices(ctx context.Context, rt *service.Runtime, sp provider.Spec, pcfg any, jcfg jobs.Config, getenv func(string) string) (provider.Services, func(), error) {
	var s provider.Services
	noop := func() {}
	jkv, err := rt.JS.KeyValue(ctx, bus.BucketJobs)
	if err != nil {
		return s, noop, fmt.Errorf("open bucket %s: %w", bus.BucketJobs, err)
	}
	ckv, err := rt.JS.KeyValue(ctx, bus.BucketCheckpoints)
	if err != nil {
		return s, noop, fmt.Errorf("open bucket %s: %w", bus.BucketCheckpoints, err)
	}
	log := rt.Log.With("provider", sp.Name)
	if s.Jobs, err = jobs.New(jkv, sp.Name, jcfg, rt.Telemetry.Meter, log); err != nil {
		return s, noop, err
	}
	if s.Checkpoints, err = checkpoint.New(ckv, sp.Name); err != nil {
		return s, noop, err
	}
	var closers []func() error
	closeAll := func() {
		for _, c := range closers {
			_ = c()
		}
	}
	if sp.Limits != nil {
		lim, err := sp.Limits(pcfg)
		if err != nil {
			return s, noop, fmt.Errorf("provider %s: %w", sp.Name, err)
		}
		if s.Limits, err = provider.NewGovernor(ctx, sp.Name, lim, rt.JS, log); err != nil {
			return s, noop, err
		}
		closers = append(closers, s.Limits.Close)
	}
	if sp.HTTP == nil {
		return s, closeAll, nil
	}
	hs, err := sp.HTTP(pcfg)
	if err != nil {
		closeAll()
		return s, noop, fmt.Errorf("provider %s: %w", sp.Name, err)
	}
	client, gov, err := provider.NewHTTP(ctx, sp.Name, hs, provider.HTTPDeps{JS: rt.JS, Getenv: getenv, Log: log})
	if err != nil {
		closeAll()
		return s, noop, err
	}
	s.HTTP = client
	closers = append(closers, gov.Close)
	return s, closeAll, nil
}
