package main

import (
	"context"
	"fmt"
	"io"

	"github.com/sluice-dev/sluice/internal/blob"
	"github.com/sluice-dev/sluice/internal/bus"
	"github.com/sluice-dev/sluice/internal/service"
	"github.com/sluice-dev/sluice/internal/specstore"
	"github.com/sluice-dev/sluice/services/extractor/provider"
)

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	sp, _ := lookup(cfg.Provider)
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
	jobs, err := rt.JS.KeyValue(ctx, bus.BucketJobs)
	if err != nil {
		return fmt.Errorf("open bucket %s: %w", bus.BucketJobs, err)
	}
	checkpoints, err := rt.JS.KeyValue(ctx, bus.BucketCheckpoints)
	if err != nil {
		return fmt.Errorf("open bucket %s: %w", bus.BucketCheckpoints, err)
	}
	p, err := sp.New(pcfg, provider.Deps{
		Log:      rt.Log.With("provider", cfg.Provider),
		Meter:    rt.Telemetry.Meter,
		Getenv:   getenv,
		Services: provider.Services{Jobs: jobs, Checkpoints: checkpoints},
	})
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
	return rt.Run(ctx, runner.Run)
}
