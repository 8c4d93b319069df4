package main

import (
	"github.com/jackc/pgx/v5/pgconn"

	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/sluice-dev/sluice/internal/bus"
	"github.com/sluice-dev/sluice/internal/config"
	"github.com/sluice-dev/sluice/internal/pgload"
	"github.com/sluice-dev/sluice/internal/redact"
)

type serviceConfig struct {
	Service     config.Service
	PostgresURL string
	MaxConns    int
	Batch       bus.BatchConfig
	Delivery    config.Delivery
}

func parseConfig(args []string, getenv func(string) string, out io.Writer) (serviceConfig, error) {
	var c serviceConfig
	fs := config.NewFlagSet("sluice-loader", getenv, out)
	c.Service.Register(fs)
	fs.ConnStringVar(&c.PostgresURL, "postgres-url", "SLUICE_POSTGRES_URL", "", "PostgreSQL URL or key=value string, e.g. postgres://loader@host:5432/db?sslmode=verify-full", redact.PostgresHasPassword)
	fs.IntVar(&c.MaxConns, "postgres-max-conns", "SLUICE_POSTGRES_MAX_CONNS", 4, "connections to PostgreSQL")
	fs.IntVar(&c.Batch.MaxMessages, "batch-size", "SLUICE_BATCH_SIZE", 64, "row-batch messages per load transaction (also how many are fetched ahead)")
	fs.IntVar(&c.Batch.MaxBytes, "batch-bytes", "SLUICE_BATCH_BYTES", 4<<20, "bytes of row batches per load transaction; memory is a small multiple of it")
	fs.DurationVar(&c.Batch.MaxWait, "batch-wait", "SLUICE_BATCH_WAIT", 200*time.Millisecond, "longest wait to fill a load transaction")
	c.Delivery.Register(fs, config.Delivery{MaxAckPending: 2048, MaxDeliver: 8, AckWait: 2 * time.Minute}, "row batches")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	return c, c.Validate()
}

func (c serviceConfig) Validate() error {
	errs := []error{c.Service.Validate(), c.Batch.Validate()}
	// pgconn's own parser: every form pgx accepts (URL, key=value) is valid here, the
	// same as for sluice provision; an empty string would mean libpq's defaults, not
	// what an operator meant.
	if strings.TrimSpace(c.PostgresURL) == "" {
		errs = append(errs, errors.New("--postgres-url / SLUICE_POSTGRES_URL is empty: want e.g. postgres://loader@db:5432/sluice or host=db user=loader dbname=sluice"))
	} else if pc, err := pgconn.ParseConfig(c.PostgresURL); err != nil {
		errs = append(errs, fmt.Errorf("--postgres-url / SLUICE_POSTGRES_URL: %w", redact.PostgresError(err)))
	} else if err := pgload.CheckTLS(pc); err != nil {
		errs = append(errs, fmt.Errorf("--postgres-url / SLUICE_POSTGRES_URL %s: %w", redact.Postgres(c.PostgresURL), err))
	}
	if c.MaxConns < 1 {
		errs = append(errs, fmt.Errorf("--postgres-max-conns %d: must be at least 1", c.MaxConns))
	}
	errs = append(errs, c.Delivery.Validate(c.Batch.MaxMessages, "--batch-size"))
	return errors.Join(errs...)
}
