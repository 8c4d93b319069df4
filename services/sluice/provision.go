package main

import (
	"context"
	"fmt"
	"regexp"

	"github.com/jackc/pgx/v5"

	"github.com/sluice-dev/sluice/internal/bus"
	"github.com/sluice-dev/sluice/internal/config"
)

func cmdProvision(ctx context.Context, env *cliEnv, args []string) error {
	fs := config.NewFlagSet("sluice provision", env.getenv, env.stdout)
	var url string
	natsFlags(fs, &url)
	pc := bus.DefaultProvision()
	fs.IntVar(&pc.Replicas, "replicas", "SLUICE_STREAM_REPLICAS", pc.Replicas, "replicas of every stream and bucket")
	fs.DurationVar(&pc.MaxAge, "max-age", "SLUICE_STREAM_MAX_AGE", pc.MaxAge, "retention of RAW, STAGED and ROWS")
	fs.DurationVar(&pc.DLQMaxAge, "dlq-max-age", "SLUICE_DLQ_MAX_AGE", pc.DLQMaxAge, "retention of dead letters")
	fs.Int64Var(&pc.DLQMaxBytes, "dlq-max-bytes", "SLUICE_DLQ_MAX_BYTES", pc.DLQMaxBytes, "bound of the DLQ stream; when full, dead-lettering fails and failed messages are retried")
	var pgURL, readerRole string
	fs.StringVar(&pgURL, "postgres-url", "SLUICE_POSTGRES_URL", "", "also provision PostgreSQL (reader role and grants); empty skips it")
	fs.StringVar(&readerRole, "reader-role", "SLUICE_READER_ROLE", "sluice_reader", "role granted read access to every loaded table")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := pc.Validate(); err != nil {
		return err
	}
	if pgURL != "" {
		if err := provisionPostgres(ctx, pgURL, readerRole); err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "provisioned PostgreSQL role %s with read access to loaded tables\n", readerRole)
	}
	nc, js, err := connect(ctx, url, env.stderr)
	if err != nil {
		return err
	}
	defer nc.Close()
	if err := bus.Provision(ctx, js, pc); err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "provisioned streams %s, %s, %s, %s, %s, %s and buckets %s, %s, %s, %s\n",
		bus.StreamTasks, bus.StreamRaw, bus.StreamStaged, bus.StreamRows, bus.StreamDLQ, bus.StreamEvents,
		bus.BucketSpecs, bus.BucketLimits, bus.BucketJobs, bus.BucketCheckpoints)
	return nil
}

// provisionPostgres creates the read-only role analysts and dashboards use, and grants it
// SELECT on every table the loader creates now or later. The loader itself needs only its
// own login with CREATE on the schema.
func provisionPostgres(ctx context.Context, url, role string) error {
	if !pgIdent.MatchString(role) {
		return fmt.Errorf("--reader-role %q: want a lowercase identifier", role)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("--postgres-url: %w", err)
	}
	defer conn.Close(ctx)
	r := pgx.Identifier{role}.Sanitize()
	stmts := []string{
		// CREATE ROLE has no IF NOT EXISTS; two provision jobs racing is harmless here.
		fmt.Sprintf("DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '%s') THEN CREATE ROLE %s NOLOGIN; END IF; END $$", role, r),
		"GRANT USAGE ON SCHEMA public TO " + r,
		"GRANT SELECT ON ALL TABLES IN SCHEMA public TO " + r,
		"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO " + r,
	}
	for _, q := range stmts {
		if _, err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("provision postgres: %s: %w", q, err)
		}
	}
	return nil
}

var pgIdent = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)
