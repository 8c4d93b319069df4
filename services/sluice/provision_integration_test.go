package main

import (
	"context"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluice-dev/sluice/internal/testinfra"
)

func TestProvisionPostgresGrantsReaderOnPresentAndFutureTables(t *testing.T) {
	env := testinfra.Require(t, testinfra.Postgres)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	suffix := strconv.FormatUint(rand.Uint64()%1e9, 36)
	role, before, after := "reader_"+suffix, "prov_before_"+suffix, "prov_after_"+suffix
	conn, err := pgx.Connect(ctx, env.PostgresURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	t.Cleanup(func() {
		c := context.Background()
		for _, q := range []string{
			"DROP TABLE IF EXISTS " + before, "DROP TABLE IF EXISTS " + after,
			"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE SELECT ON TABLES FROM " + role,
			"REVOKE USAGE ON SCHEMA public FROM " + role, "DROP ROLE IF EXISTS " + role,
		} {
			_, _ = conn.Exec(c, q)
		}
	})
	if _, err := conn.Exec(ctx, "CREATE TABLE "+before+" (id int)"); err != nil {
		t.Fatal(err)
	}
	for range 2 { // idempotent
		if err := provisionPostgres(ctx, env.PostgresURL, pgRoles{Reader: role}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE "+after+" (id int)"); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{before, after} {
		var ok bool
		if err := conn.QueryRow(ctx, "SELECT has_table_privilege($1, $2, 'select')", role, table).Scan(&ok); err != nil {
			t.Fatal(err)
		}
		if !ok {
			t.Errorf("role %s cannot read %s", role, table)
		}
	}
	if err := provisionPostgres(ctx, env.PostgresURL, pgRoles{Reader: "Bad-Role"}); err == nil {
		t.Error("an invalid role name was accepted")
	}
}
