package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/sluice-dev/sluice/internal/bus"
	"github.com/sluice-dev/sluice/internal/config"
)

type serviceConfig struct {
	Service     config.Service
	PostgresURL string
	MaxConns    int
	Batch       bus.BatchConfig
	Delivery    config.Delivery
	Pprof       bool
}

func parseConfig(args []string, getenv func(string) string, out io.Writer) (serviceConfig, error) {
	var c serviceConfig
	fs := config.NewFlagSet("sluice-loader", getenv, out)
	c.Service.Register(fs)
	fs.StringVar(&c.PostgresURL, "postgres-url", "SLUICE_POSTGRES_URL", "", "PostgreSQL URL, e.g. postgres://user:pass@host:5432/db")
	fs.IntVar(&c.MaxConns, "postgres-max-conns", "SLUICE_POSTGRES_MAX_CONNS", 4, "connections to PostgreSQL")
	fs.IntVar(&c.Batch.MaxMessages, "batch-size", "SLUICE_BATCH_SIZE", 64, "row-batch messages per load transaction (also how many are fetched ahead)")
	fs.IntVar(&c.Batch.MaxBytes, "batch-bytes", "SLUICE_BATCH_BYTES", 4<<20, "bytes of row batches per load transaction; memory is a small multiple of it")
	fs.DurationVar(&c.Batch.MaxWait, "batch-wait", "SLUICE_BATCH_WAIT", 200*time.Millisecond, "longest wait to fill a load transaction")
	c.Delivery.Register(fs, config.Delivery{MaxAckPending: 2048, MaxDeliver: 8, AckWait: 2 * time.Minute}, "row batches")
	fs.BoolVar(&c.Pprof, "pprof", "SLUICE_PPROF", false, "serve Go profiles under /debug/pprof/ on --http-addr")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	return c, c.Validate()
}

func (c serviceConfig) Validate() error {
	errs := []error{c.Service.Validate(), c.Batch.Validate()}
	if !strings.HasPrefix(c.PostgresURL, "postgres://") && !strings.HasPrefix(c.PostgresURL, "postgresql://") {
		errs = append(errs, fmt.Errorf("--postgres-url / SLUICE_POSTGRES_URL %q: want postgres://user:pass@host:5432/db", redact(c.PostgresURL)))
	}
	if c.MaxConns < 1 {
		errs = append(errs, fmt.Errorf("--postgres-max-conns %d: must be at least 1", c.MaxConns))
	}
	errs = append(errs, c.Delivery.Validate(c.Batch.MaxMessages, "--batch-size"))
	return errors.Join(errs...)
}

func redact(u string) string {
	if i := strings.Index(u, "@"); i > 0 {
		if j := strings.Index(u, "://"); j > 0 && j < i {
			return u[:j+3] + "…" + u[i:]
		}
	}
	return u
}
