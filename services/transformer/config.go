package main

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/sluice-dev/sluice/internal/blob"
	"github.com/sluice-dev/sluice/internal/config"
	"github.com/sluice-dev/sluice/internal/rowsource"
)

type serviceConfig struct {
	Service       config.Service
	S3            blob.Config
	Workers       int
	RowsPerBatch  int
	BytesPerBatch int
	Delivery      config.Delivery
	// Decode bounds the decompression of one payload (gzip bombs).
	Decode rowsource.DecodeLimits
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
	fs.Int64Var(&c.Decode.MaxBytes, "max-decompressed-bytes", "SLUICE_MAX_DECOMPRESSED_BYTES", 1<<30, "largest decompressed size of one payload; beyond it the record is dead-lettered")
	fs.Float64Var(&c.Decode.MaxRatio, "max-decompression-ratio", "SLUICE_MAX_DECOMPRESSION_RATIO", 100, "largest decompressed ÷ compressed size of a payload past its first 4 MiB (gzip bombs); beyond it the record is dead-lettered")
	c.Decode.RatioFloor = 4 << 20
	c.Decode.MaxBytesName, c.Decode.MaxRatioName = "--max-decompressed-bytes", "--max-decompression-ratio"
	c.Delivery.Register(fs, config.Delivery{MaxAckPending: 64, MaxDeliver: 8, AckWait: 2 * time.Minute}, "records")
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
	if c.Decode.MaxBytes < 1<<20 {
		errs = append(errs, fmt.Errorf("--max-decompressed-bytes %d: must be at least 1 MiB", c.Decode.MaxBytes))
	}
	if c.Decode.MaxRatio < 2 {
		errs = append(errs, fmt.Errorf("--max-decompression-ratio %v: must be at least 2", c.Decode.MaxRatio))
	}
	errs = append(errs, c.Delivery.Validate(c.Workers, "--workers"))
	return errors.Join(errs...)
}
