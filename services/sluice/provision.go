package main

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/sluice-dev/sluice/internal/bus"
	"github.com/sluice-dev/sluice/internal/config"
	"github.com/sluice-dev/sluice/internal/redact"
)

func cmdProvision(ctx context.Context, env *cliEnv, args []string) error {
	fs := config.NewFlagSet("sluice provision", env.getenv, env.stdout)
	var url config.NATS
	natsFlags(fs, &url)
	pc := bus.DefaultProvision()
	fs.IntVar(&pc.Replicas, "replicas", "SLUICE_STREAM_REPLICAS", pc.Replicas, "replicas of every stream and bucket")
	fs.DurationVar(&pc.MaxAge, "max-age", "SLUICE_STREAM_MAX_AGE", pc.MaxAge, "retention of RAW, STAGED and ROWS")
	fs.DurationVar(&pc.DLQMaxAge, "dlq-max-age", "SLUICE_DLQ_MAX_AGE", pc.DLQMaxAge, "retention of dead letters")
	fs.Int64Var(&pc.DLQMaxBytes, "dlq-max-bytes", "SLUICE_DLQ_MAX_BYTES", pc.DLQMaxBytes, "bound of the DLQ stream; when full, dead-lettering fails and failed messages are retried")
	var pgURL string
	var roles pgRoles
	fs.ConnStringVar(&pgURL, "postgres-url", "SLUICE_POSTGRES_ADMIN_URL", "", "also provision PostgreSQL (loader and reader roles, grants) through this admin URL or key=value string, not the loader's; empty skips it", redact.PostgresHasPassword)
	fs.StringVar(&roles.Reader, "reader-role", "SLUICE_READER_ROLE", "sluice_reader", "role granted read access to every loaded table")
	fs.StringVar(&roles.Loader, "loader-role", "SLUICE_LOADER_ROLE", "", "login role the loader runs as: it may create tables and write only those (empty: not managed here)")
	fs.SecretVar(&roles.LoaderPassword, "loader-password", "SLUICE_LOADER_PASSWORD", "password set on --loader-role")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := pc.Validate(); err != nil {
		return err
	}
	if pgURL != "" {
		if err := provisionPostgres(ctx, pgURL, roles); err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "provisioned PostgreSQL role %s with read access to loaded tables\n", roles.Reader)
		if roles.Loader != "" {
			fmt.Fprintf(env.stdout, "provisioned PostgreSQL login role %s, which may create tables and write only its own\n", roles.Loader)
		}
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

// pgRoles are the PostgreSQL roles provision manages.
type pgRoles struct {
	Reader, Loader, LoaderPassword string
}

// provisionPostgres creates the read-only role analysts and dashboards use, and grants it
// SELECT on every table the loader creates now or later. With a loader role it also
// creates (or updates) the loader's login: not a superuser, no CREATEDB or CREATEROLE,
// USAGE and CREATE on the schema and nothing else, so it writes only the tables it creates
// (it owns them) and no other. It runs with an admin URL, never the loader's.
func provisionPostgres(ctx context.Context, url string, roles pgRoles) error {
	role := roles.Reader
	if !pgIdent.MatchString(role) {
		return fmt.Errorf("--reader-role %q: want a lowercase identifier", role)
	}
	if roles.Loader != "" && !pgIdent.MatchString(roles.Loader) {
		return fmt.Errorf("--loader-role %q: want a lowercase identifier", roles.Loader)
	}
	if roles.Loader != "" && roles.LoaderPassword == "" {
		return fmt.Errorf("--loader-role %s needs SLUICE_LOADER_PASSWORD or SLUICE_LOADER_PASSWORD_FILE", roles.Loader)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("--postgres-url %s: %w", redact.Postgres(url), redact.PostgresError(err))
	}
	defer conn.Close(ctx)
	r := pgx.Identifier{role}.Sanitize()
	stmts := []string{
		// CREATE ROLE has no IF NOT EXISTS; two provision jobs racing is harmless here.
		fmt.Sprintf("DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '%s') THEN CREATE ROLE %s NOLOGIN; END IF; END $$", role, r),
		"GRANT USAGE ON SCHEMA public TO " + r,
		"GRANT SELECT ON ALL TABLES IN SCHEMA public TO " + r,
		"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO " + r,
		// Only roles named here may create objects in the schema.
		"REVOKE CREATE ON SCHEMA public FROM PUBLIC",
	}
	if roles.Loader != "" {
		l := pgx.Identifier{roles.Loader}.Sanitize()
		stmts = append(stmts,
			fmt.Sprintf("DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '%s') THEN CREATE ROLE %s LOGIN; END IF; END $$", roles.Loader, l),
			"ALTER ROLE "+l+" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS",
			"GRANT USAGE, CREATE ON SCHEMA public TO "+l,
			// Tables the loader creates are its own; the reader may read them.
			"ALTER DEFAULT PRIVILEGES FOR ROLE "+l+" IN SCHEMA public GRANT SELECT ON TABLES TO "+r,
		)
	}
	for _, q := range stmts {
		if _, err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("provision postgres: %s: %w", q, err)
		}
	}
	if roles.Loader != "" {
		// The password travels as a parameter-free literal (ALTER ROLE takes no
		// parameters), quoted by pgx, and is never logged or returned in an error.
		q := "ALTER ROLE " + pgx.Identifier{roles.Loader}.Sanitize() + " PASSWORD " + quoteLiteral(roles.LoaderPassword)
		if _, err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("provision postgres: set the password of %s: %w", roles.Loader, redactedPGError(err, roles.LoaderPassword))
		}
	}
	return nil
}

var pgIdent = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// quoteLiteral quotes s as a SQL string literal (standard_conforming_strings on).
func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// redactedPGError keeps a server error about a statement that held secret from showing it.
func redactedPGError(err error, secret string) error {
	if secret != "" && strings.Contains(err.Error(), secret) {
		return errors.New(strings.ReplaceAll(err.Error(), secret, redact.Placeholder))
	}
	return err
}
