package main

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/sluice-dev/sluice/internal/bus"
	"github.com/sluice-dev/sluice/internal/config"
	"github.com/sluice-dev/sluice/internal/redact"
	"github.com/sluice-dev/sluice/internal/staging"
)

type serviceConfig struct {
	Service  config.Service
	Mongo    staging.Config
	Batch    bus.BatchConfig
	Delivery config.Delivery
	// Retention is how long staged documents are kept (0: forever); RetentionInterval is
	// how often expired ones are deleted.
	Retention         time.Duration
	RetentionInterval time.Duration
}

func parseConfig(args []string, getenv func(string) string, out io.Writer) (serviceConfig, error) {
	var c serviceConfig
	fs := config.NewFlagSet("sluice-staging-store", getenv, out)
	c.Service.Register(fs)
	fs.ConnStringVar(&c.Mongo.URI, "mongo-uri", "SLUICE_MONGO_URI", "mongodb://127.0.0.1:27017/", "document store URI", redact.MongoHasPassword)
	fs.StringVar(&c.Mongo.Database, "mongo-database", "SLUICE_MONGO_DATABASE", "sluice", "document store database")
	fs.StringVar(&c.Mongo.WriteConcern, "mongo-write-concern", "SLUICE_MONGO_WRITE_CONCERN", "majority", "write concern: majority or a number of nodes")
	fs.StringVar(&c.Mongo.PayloadCodec, "payload-codec", "SLUICE_STAGING_PAYLOAD_CODEC", "zstd", "compression of inline payloads in the document store: zstd or none")
	fs.IntVar(&c.Batch.MaxMessages, "batch-size", "SLUICE_BATCH_SIZE", 64, "records per bulk insert, also how many are fetched ahead: at the 512 KiB inline limit, 64 keep the fetch buffer at 32 MiB")
	fs.IntVar(&c.Batch.MaxBytes, "batch-bytes", "SLUICE_BATCH_BYTES", 16<<20, "bytes per bulk insert")
	fs.DurationVar(&c.Batch.MaxWait, "batch-wait", "SLUICE_BATCH_WAIT", 50*time.Millisecond, "longest wait to fill a batch")
	c.Delivery.Register(fs, config.Delivery{MaxAckPending: 1024, MaxDeliver: 8, AckWait: time.Minute}, "records")
	fs.DurationVar(&c.Retention, "retention", "SLUICE_STAGING_RETENTION", 0, "delete staged documents older than this (e.g. 2160h); 0 keeps them forever, and replay needs them")
	fs.DurationVar(&c.RetentionInterval, "retention-interval", "SLUICE_STAGING_RETENTION_INTERVAL", time.Hour, "how often expired documents are deleted")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	return c, c.Validate()
}

func (c serviceConfig) Validate() error {
	errs := []error{c.Service.Validate(), c.Mongo.Validate(), c.Batch.Validate()}
	errs = append(errs, c.Delivery.Validate(c.Batch.MaxMessages, "--batch-size"))
	if c.Retention < 0 {
		errs = append(errs, fmt.Errorf("--retention %v must not be negative", c.Retention))
	}
	if c.Retention > 0 && c.RetentionInterval <= 0 {
		errs = append(errs, fmt.Errorf("--retention-interval %v must be positive", c.RetentionInterval))
	}
	return errors.Join(errs...)
}
