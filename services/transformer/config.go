package main

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/sluice-dev/sluice/internal/blob"
	"github.com/sluice-dev/sluice/internal/config"
)

type serviceConfig struct {
	Service       config.Service
	S3            blob.Config
	Workers       int
	RowsPerBatch  int
	BytesPerBatch int
	Delivery      config.Delivery
	Pprof         bool
}

func parseConfig(args []string, getenv func(string) string, out io.Writer) (serviceConfig, error) {
	var c serviceConfig
	fs := config.NewFlagSet("sluice-transformer", getenv, out)
	c.Service.Register(fs)
	c.S3.Register(fs)
	c.S3.PartSize, c.S3.Concurrency = 8<<20, 1
	fs.IntVar(&c.Workers, "workers", "SLUICE_WORKERS", 4, "records transformed at once")
	fs.IntVar(&c.RowsPerBatch, "rows-per-batch", "SLUICE_ROWS_PER_BATCH", 2000, "rows per published row batch")
	fs.IntVar(&c.BytesPerBatch, "bytes-per-batch", "SLUICE_BYTES_PER_BATCH", 512<<10, "approximate bytes per published row batch (below the NATS message limit)")
	c.Delivery.Register(fs, config.Delivery{MaxAckPending: 64, MaxDeliver: 8, AckWait: 2 * time.Minute}, "records")
	fs.BoolVar(&c.Pprof, "pprof", "SLUICE_PPROF", false, "serve Go profiles under /debug/pprof/ on --http-addr")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	return c, c.Validate()
}

func (c serviceConfig) Validate() error {
	errs := []error{c.Service.Validate(), c.S3.Validate()}
	if c.Workers < 1 {
		errs = append(errs, fmt.Errorf("--workers %d: must be at least 1", c.Workers))
	}
	if c.RowsPerBatch < 1 {
		errs = append(errs, fmt.Errorf("--rows-per-batch %d: must be at least 1", c.RowsPerBatch))
	}
	if c.BytesPerBatch < 1024 || c.BytesPerBatch > 900<<10 {
		errs = append(errs, fmt.Errorf("--bytes-per-batch %d: want 1 KiB..900 KiB", c.BytesPerBatch))
	}
	errs = append(errs, c.Delivery.Validate(c.Workers, "--workers"))
	return errors.Join(errs...)
}
