package main

import (
	"context"
	"fmt"

	"github.com/sluice-dev/sluice/internal/bus"
	"github.com/sluice-dev/sluice/internal/config"
)

func cmdProvision(ctx context.Context, env *cliEnv, args []string) error {
	fs := config.NewFlagSet("sluice provision", env.getenv, env.stderr)
	var url string
	natsFlags(fs, &url)
	pc := bus.DefaultProvision()
	fs.IntVar(&pc.Replicas, "replicas", "SLUICE_STREAM_REPLICAS", pc.Replicas, "replicas of every stream and bucket")
	fs.DurationVar(&pc.MaxAge, "max-age", "SLUICE_STREAM_MAX_AGE", pc.MaxAge, "retention of RAW, STAGED and ROWS")
	fs.DurationVar(&pc.DLQMaxAge, "dlq-max-age", "SLUICE_DLQ_MAX_AGE", pc.DLQMaxAge, "retention of dead letters")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := pc.Validate(); err != nil {
		return err
	}
	nc, js, err := connect(ctx, url, env.stderr)
	if err != nil {
		return err
	}
	defer nc.Close()
	if err := bus.Provision(ctx, js, pc); err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "provisioned streams %s, %s, %s, %s, %s and buckets %s, %s, %s, %s\n",
		bus.StreamTasks, bus.StreamRaw, bus.StreamStaged, bus.StreamRows, bus.StreamDLQ,
		bus.BucketSpecs, bus.BucketLimits, bus.BucketJobs, bus.BucketCheckpoints)
	return nil
}
