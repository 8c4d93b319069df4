package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/sluice-dev/sluice/internal/config"
	"github.com/sluice-dev/sluice/services/extractor/providers/sqlcopy"
)

// specFromSQL is `sluice spec from-sql`: it reads a table's columns and primary key from
// the source's information_schema and writes the sqlcopy provider's spec of it, so the
// spec of a hundred-column table is never typed by hand. The source URL comes from
// SLUICE_SQLCOPY_SOURCE_URL (or its _FILE; password in SLUICE_SQLCOPY_SOURCE_PASSWORD),
// never from a flag.
func specFromSQL(ctx context.Context, env *cliEnv, args []string) error {
	fs := config.NewFlagSet("sluice spec from-sql", env.getenv, env.stdout)
	var table, dataset, dest, cols, key, out string
	fs.StringVar(&table, "table", "", "", "source table, schema.name (schema defaults to public)")
	fs.StringVar(&dataset, "dataset", "", "", "dataset name (default: the table name)")
	fs.StringVar(&dest, "dest-table", "", "", "destination table (default: the table name, as a lowercase identifier)")
	fs.StringVar(&cols, "columns", "", "", "source columns to copy, comma separated (default: all)")
	fs.StringVar(&key, "key", "", "", "unique non-null key columns, comma separated (default: the primary key)")
	fs.StringVar(&out, "out", "", "", "file to write (default: standard output)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if table == "" || len(fs.Args()) > 0 {
		return config.Usagef("usage: sluice spec from-sql --table schema.name [--dataset D] [--dest-table T] [--columns a,b] [--key a,b] [--out FILE]")
	}
	cc, err := sqlcopy.SourceConfig(env.getenv)
	if err != nil {
		return err
	}
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return fmt.Errorf("spec from-sql: connect to the source %s:%d/%s: %w", cc.Host, cc.Port, cc.Database, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	info, err := sqlcopy.ReadTable(ctx, conn, table)
	if err != nil {
		return fmt.Errorf("spec from-sql: %w", err)
	}
	if dataset == "" {
		dataset = sqlcopy.DestName(info.Name)
	}
	sp, err := sqlcopy.GenerateSpec(info, dataset, dest, split(cols), split(key))
	if err != nil {
		return fmt.Errorf("spec from-sql: %w", err)
	}
	data, err := sqlcopy.MarshalSpec(sp)
	if err != nil {
		return err
	}
	if out == "" {
		_, err = env.stdout.Write(data)
		return err
	}
	if err := os.WriteFile(out, data, 0o644); err != nil {
		return fmt.Errorf("spec from-sql: %w", err)
	}
	fmt.Fprintf(env.stderr, "spec of %s (%d columns, key %s) written to %s\n", table, len(sp.Columns), strings.Join(sp.PrimaryKey, ","), out)
	return nil
}

func split(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
