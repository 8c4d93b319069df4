// Package sqlcopy is the relational-source provider: it copies PostgreSQL or Redshift
// tables into sluice as keyset pages of zstd NDJSON, one task per key-range partition,
// with each partition's progress checkpointed after every page, so a killed, stopped or
// cancelled copy resumes where it was. Incremental runs after the backfill copy only rows
// changed (by an updated_at-like column) or added (by key). Every query takes a permit of
// the provider's governor, whose concurrency cap per source database is shared by all
// replicas. See README.md.
package sqlcopy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/sluice-dev/sluice/internal/ratelimit"
	"github.com/sluice-dev/sluice/internal/spec"
	"github.com/sluice-dev/sluice/services/extractor/provider"
	"github.com/sluice-dev/sluice/services/extractor/provider/checkpoint"
)

// Name is the provider name.
const Name = "sqlcopy"

// Spec registers the provider.
var Spec = provider.Spec{Name: Name, NewConfig: func() any { return DefaultConfig() }, New: New, Limits: Limits}

// Limits declares the provider's governor: a cap of Config.Concurrency queries at once
// per source database, shared by every replica (a lease in sluice-limits, recovered
// from a dead replica after its TTL), and a pace far above any real query rate.
func Limits(cfg any) (ratelimit.Config, error) {
	c, ok := cfg.(*Config)
	if !ok {
		return ratelimit.Config{}, fmt.Errorf("sqlcopy: config of type %T", cfg)
	}
	return ratelimit.Config{
		Quotas:          map[string]ratelimit.QuotaConfig{ratelimit.DefaultQuota: {Limit: ratelimit.Limit{Rate: 1000, Burst: 100, Adaptive: ratelimit.Adaptive{Disabled: true}}}},
		HostConcurrency: c.Concurrency,
	}, nil
}

type sqlcopy struct {
	cfg    *Config
	log    *slog.Logger
	pool   *pgxpool.Pool
	gov    *ratelimit.Governor
	ckpt   *checkpoint.Store
	host   string // the governor's concurrency key: host:port/database
	budget int64
	// slots bounds the pages held in memory by this replica.
	slots  chan struct{}
	tables map[string]Table
	specs  []*spec.Spec

	mu       sync.Mutex
	resolved map[string]*tableState

	rows    metric.Int64Counter // rows copied, by dataset
	retries metric.Int64Counter // source queries killed and retried
}

// New builds the provider. The source URL comes from the environment (EnvSourceURL or
// its _FILE), never from the config; no connection is made until the first query.
func New(cfg any, deps provider.Deps) (provider.Provider, error) {
	c, ok := cfg.(*Config)
	if !ok {
		return nil, fmt.Errorf("sqlcopy: config of type %T", cfg)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if deps.Services.Limits == nil || deps.Services.Checkpoints == nil {
		return nil, errors.New("sqlcopy: the SDK's governor (Spec.Limits) and checkpoint store are required")
	}
	getenv := deps.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	log := deps.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	meter := deps.Meter
	if meter == nil {
		meter = noop.NewMeterProvider().Meter("")
	}
	rows, err := meter.Int64Counter("sluice.sqlcopy.rows", metric.WithDescription("rows copied from the source, by dataset"))
	if err != nil {
		return nil, err
	}
	retries, err := meter.Int64Counter("sluice.sqlcopy.query_retries", metric.WithDescription("source queries killed (cancelled, timed out, connection lost) and retried"))
	if err != nil {
		return nil, err
	}
	pool, host, err := openSource(c, getenv)
	if err != nil {
		return nil, err
	}
	p := &sqlcopy{
		cfg: c, log: log.With("component", "sqlcopy"), pool: pool, gov: deps.Services.Limits, ckpt: deps.Services.Checkpoints,
		host: host, budget: pageBudget(c.Page, memoryLimit(cgroupMemoryMax)), slots: make(chan struct{}, c.Page.InMemory),
		tables: map[string]Table{}, resolved: map[string]*tableState{}, rows: rows, retries: retries,
	}
	for i, t := range c.Tables {
		sp, err := t.loadSpec()
		if err != nil {
			pool.Close()
			return nil, fmt.Errorf("sqlcopy: tables[%d]: %w", i, err)
		}
		if sp.Provider != Name || sp.Dataset != t.Dataset {
			pool.Close()
			return nil, fmt.Errorf("sqlcopy: tables[%d]: the spec is the spec of %s/%s, want %s/%s", i, sp.Provider, sp.Dataset, Name, t.Dataset)
		}
		if sp.Format.Type != spec.NDJSON {
			pool.Close()
			return nil, fmt.Errorf("sqlcopy: tables[%d]: spec format %s, want ndjson (pages are NDJSON)", i, sp.Format.Type)
		}
		p.tables[t.Dataset] = t
		p.specs = append(p.specs, sp)
	}
	p.log.Info("sqlcopy ready", "source", host, "tables", len(c.Tables), "page_budget_bytes", p.budget, "concurrency", c.Concurrency)
	return p, nil
}

// loadSpec reads the table's dataset spec, inline or from its file.
func (t Table) loadSpec() (*spec.Spec, error) {
	data := []byte(t.Spec)
	if t.SpecFile != "" {
		var err error
		if data, err = os.ReadFile(t.SpecFile); err != nil {
			return nil, fmt.Errorf("spec_file: %w", err)
		}
	}
	sp, err := spec.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("spec %s: %w", t.SpecFile, err)
	}
	return sp, nil
}

// openSource builds the pool of source connections (connected lazily) and names the
// source for the governor.
func openSource(c *Config, getenv func(string) string) (*pgxpool.Pool, string, error) {
	cc, err := SourceConfig(getenv)
	if err != nil {
		return nil, "", err
	}
	pc, err := pgxpool.ParseConfig("")
	if err != nil {
		return nil, "", fmt.Errorf("sqlcopy: source pool: %w", err)
	}
	pc.ConnConfig = cc
	pc.MaxConns = int32(c.Concurrency)
	pc.MinConns = 0
	pc.MaxConnIdleTime = 30 * time.Second
	rp := pc.ConnConfig.RuntimeParams
	rp["application_name"] = "sluice-sqlcopy"
	// Text output in a fixed form: timestamps in ISO and UTC (read back exactly as keys),
	// bytea as hex, floats with every digit.
	rp["timezone"] = "UTC"
	rp["datestyle"] = "ISO, YMD"
	if c.Dialect == DialectPostgres {
		rp["bytea_output"] = "hex"
		rp["extra_float_digits"] = "3"
	}
	if d := c.statementTimeout(); d > 0 {
		rp["statement_timeout"] = strconv.FormatInt(d.Milliseconds(), 10)
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), pc)
	if err != nil {
		return nil, "", fmt.Errorf("sqlcopy: source pool: %w", err)
	}
	host := fmt.Sprintf("%s:%d/%s", pc.ConnConfig.Host, pc.ConnConfig.Port, pc.ConnConfig.Database)
	return pool, host, nil
}

func (p *sqlcopy) Datasets() []*spec.Spec { return p.specs }

// SourceConfig reads the source's connection settings from the environment: the URL in
// EnvSourceURL (or the file named by EnvSourceURL_FILE) and, when set, the password in
// EnvSourcePassword (or its _FILE).
func SourceConfig(getenv func(string) string) (*pgx.ConnConfig, error) {
	raw, err := secret(getenv, EnvSourceURL)
	if err != nil {
		return nil, err
	}
	if raw == "" {
		return nil, fmt.Errorf("sqlcopy: %s (or %s_FILE) is required: the source database URL", EnvSourceURL, EnvSourceURL)
	}
	pw, err := secret(getenv, EnvSourcePassword)
	if err != nil {
		return nil, err
	}
	cc, err := pgx.ParseConfig(raw)
	if err != nil {
		// The URL holds a password: never repeat it in an error.
		return nil, fmt.Errorf("sqlcopy: %s: not a valid database URL", EnvSourceURL)
	}
	if pw != "" {
		cc.Password = pw
	}
	return cc, nil
}

// Task kinds.
const (
	kindCopy        = "copy"
	kindIncremental = "incremental"
)

// taskParams says what a task copies: a partition of a backfill (the keys after After
// up to UpTo; nil bounds are open) or an incremental pass.
type taskParams struct {
	Dataset string   `json:"dataset"`
	Part    int      `json:"part,omitempty"`
	After   []string `json:"after,omitempty"`
	UpTo    []string `json:"up_to,omitempty"`
}

// Run copies one partition or runs one incremental pass.
func (p *sqlcopy) Run(ctx context.Context, t provider.Task, emit provider.Emitter) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var tp taskParams
	if err := t.DecodeParams(&tp); err != nil {
		return fmt.Errorf("%w: %v", provider.ErrPermanent, err)
	}
	ts, err := p.resolve(ctx, tp.Dataset)
	if err != nil {
		return err
	}
	switch t.Kind {
	case kindCopy:
		return p.copyRange(ctx, emit, job{
			ts: ts, q: ts.byKey, checkpoint: p.ckpt.Key("backfill", tp.Dataset, t.RunID, fmt.Sprintf("p%05d", tp.Part)),
			prefix: fmt.Sprintf("p%05d", tp.Part), lo: tp.After, hi: tp.UpTo,
		})
	case kindIncremental:
		return p.copyRange(ctx, emit, job{
			ts: ts, q: ts.incremental, checkpoint: p.incrementalKey(tp.Dataset), prefix: "incremental", open: true,
		})
	}
	return fmt.Errorf("%w: unknown task kind %q", provider.ErrPermanent, t.Kind)
}

func (p *sqlcopy) incrementalKey(dataset string) string { return p.ckpt.Key("incremental", dataset) }
