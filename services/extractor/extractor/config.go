package extractor

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/sluice-dev/sluice/internal/blob"
	"github.com/sluice-dev/sluice/internal/config"
	"github.com/sluice-dev/sluice/services/extractor/provider"
	"github.com/sluice-dev/sluice/services/extractor/provider/jobs"
	"github.com/sluice-dev/sluice/services/extractor/trigger"
)

type serviceConfig struct {
	Service        config.Service
	Provider       string
	ProviderConfig string
	Runner         provider.RunnerConfig
	S3             blob.Config
	// Schedule is a cron expression; every slot plans a run (empty: no schedule).
	Schedule       string
	ScheduleParams string
	// ScheduleCatchUp says how slots missed while no replica ran are planned.
	ScheduleCatchUp string
	// Events turns the provider's events on the EVENTS stream into runs.
	Events bool
	// Jobs tunes the async job store.
	Jobs jobs.Config
}

func (r registry) parseConfig(args []string, getenv func(string) string, out io.Writer) (serviceConfig, error) {
	var c serviceConfig
	fs := config.NewFlagSet("sluice-extractor", getenv, out)
	c.Service.Register(fs)
	fs.StringVar(&c.Provider, "provider", "SLUICE_PROVIDER", "", "provider to run: "+strings.Join(r.names(), ", "))
	fs.StringVar(&c.ProviderConfig, "provider-config", "SLUICE_PROVIDER_CONFIG", "", "path of the provider's JSON configuration (defaults apply when empty)")
	fs.IntVar(&c.Runner.Workers, "workers", "SLUICE_WORKERS", 16, "tasks run at once by this replica")
	fs.IntVar(&c.Runner.MaxDeliver, "max-deliver", "SLUICE_MAX_DELIVER", 6, "attempts of a task before it goes to the DLQ")
	fs.DurationVar(&c.Runner.AckWait, "ack-wait", "SLUICE_ACK_WAIT", 30*time.Second, "redelivery timeout of a silent task")
	fs.DurationVar(&c.Runner.TaskTimeout, "task-timeout", "SLUICE_TASK_TIMEOUT", provider.DefaultTaskTimeout, "deadline of one attempt of a task; when it passes the attempt is cancelled and the task retried (async jobs resume)")
	fs.IntVar(&c.Runner.InlineLimit, "inline-limit", "SLUICE_INLINE_LIMIT", 512<<10, "largest payload carried inline; larger ones go to S3")
	fs.StringVar(&c.Schedule, "schedule", "SLUICE_SCHEDULE", "", "cron expression (5 fields, UTC unless prefixed CRON_TZ=<zone>; or @daily, @every 6h) at which runs are planned; empty: none")
	fs.StringVar(&c.ScheduleParams, "schedule-params", "SLUICE_SCHEDULE_PARAMS", "", "provider parameters of scheduled runs, comma separated k=v pairs")
	fs.StringVar(&c.ScheduleCatchUp, "schedule-catch-up", "SLUICE_SCHEDULE_CATCH_UP", string(trigger.CatchUpCoalesce), "slots missed while no replica ran, planned at start: coalesce (one run over them all) or each (one run per slot)")
	fs.BoolVar(&c.Events, "events", "SLUICE_EVENTS", true, "plan a run for every event of the provider on the EVENTS stream (sluice.event.<provider>.>)")
	fs.DurationVar(&c.Jobs.ClaimTTL, "job-claim-ttl", "SLUICE_JOB_CLAIM_TTL", 15*time.Second, "how long a dead replica's claim to request a report blocks the others (renewed by a live one every third of it)")
	registerS3(fs, &c.S3)
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	c.Runner.DrainTimeout = c.Service.ShutdownTimeout
	return c, c.validate(r)
}

func registerS3(fs *config.FlagSet, c *blob.Config) {
	fs.StringVar(&c.Endpoint, "s3-endpoint", "SLUICE_S3_ENDPOINT", "", "S3 endpoint URL; empty for AWS")
	fs.StringVar(&c.Region, "s3-region", "SLUICE_S3_REGION", "us-east-1", "S3 region")
	fs.StringVar(&c.Bucket, "s3-bucket", "SLUICE_S3_BUCKET", "sluice-claims", "bucket of claim-checked payloads")
	fs.StringVar(&c.AccessKey, "s3-access-key", "SLUICE_S3_ACCESS_KEY", "", "S3 access key (empty: the SDK's default chain)")
	fs.StringVar(&c.SecretKey, "s3-secret-key", "SLUICE_S3_SECRET_KEY", "", "S3 secret key")
	fs.Int64Var(&c.PartSize, "s3-part-size", "SLUICE_S3_PART_SIZE", 8<<20, "multipart upload part size")
	fs.IntVar(&c.Concurrency, "s3-concurrency", "SLUICE_S3_CONCURRENCY", 4, "parts uploaded at once")
}

func (c serviceConfig) validate(r registry) error {
	errs := []error{c.Service.Validate(), c.Runner.Validate(), c.S3.Validate()}
	if c.Jobs.ClaimTTL < time.Second {
		errs = append(errs, fmt.Errorf("--job-claim-ttl / SLUICE_JOB_CLAIM_TTL %v: must be at least 1s", c.Jobs.ClaimTTL))
	}
	if c.Schedule != "" {
		if _, err := trigger.ParseSchedule(c.Schedule); err != nil {
			errs = append(errs, fmt.Errorf("--schedule / SLUICE_SCHEDULE: %w", err))
		}
	}
	if _, err := trigger.ParseCatchUp(c.ScheduleCatchUp); err != nil {
		errs = append(errs, fmt.Errorf("--schedule-catch-up / SLUICE_SCHEDULE_CATCH_UP: %w", err))
	}
	if _, err := parseParams(c.ScheduleParams); err != nil {
		errs = append(errs, fmt.Errorf("--schedule-params / SLUICE_SCHEDULE_PARAMS: %w", err))
	}
	if c.Provider == "" {
		errs = append(errs, fmt.Errorf("--provider / SLUICE_PROVIDER is required: one of %s", strings.Join(r.names(), ", ")))
	} else if _, ok := r.lookup(c.Provider); !ok {
		errs = append(errs, fmt.Errorf("--provider / SLUICE_PROVIDER %q: unknown; known providers: %s", c.Provider, strings.Join(r.names(), ", ")))
	}
	return errors.Join(errs...)
}

// parseParams reads comma separated k=v pairs.
func parseParams(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		if kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%q: want k=v", kv)
		}
		out[k] = v
	}
	return out, nil
}

// providerConfig decodes the provider's JSON configuration over its defaults.
func providerConfig(sp provider.Spec, path string) (any, error) {
	cfg := sp.NewConfig()
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("--provider-config: %w", err)
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(cfg); err != nil {
			return nil, fmt.Errorf("--provider-config %s: %w", path, err)
		}
	}
	if v, ok := cfg.(interface{ Validate() error }); ok {
		if err := v.Validate(); err != nil {
			return nil, fmt.Errorf("--provider-config %s: %w", path, err)
		}
	}
	return cfg, nil
}
