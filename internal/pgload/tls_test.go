package pgload

import (
	"errors"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sluice-dev/sluice/internal/testinfra"
)

func TestCheckTLSRefusesUnverifiedModes(t *testing.T) {
	t.Parallel()
	ca := testinfra.GenerateTLS(t, t.TempDir()).CA
	cases := map[string]bool{
		"postgres://u@db/x?sslmode=disable":                              true,
		"postgres://u@db/x?sslmode=verify-full&sslrootcert=" + ca + "":   true,
		"host=db user=u sslmode=verify-ca sslrootcert=" + ca + "":        true,
		"postgres://u@db/x?sslmode=require":                              false,
		"postgres://u@db/x?sslmode=prefer":                               false,
		"postgres://u@db/x?sslmode=allow":                                false,
		"postgres://u@db/x":                                              false, // prefer by default
		"host=db1,db2 user=u sslmode=verify-full sslrootcert=" + ca + "": true,
	}
	for dsn, ok := range cases {
		cfg, err := pgconn.ParseConfig(dsn)
		if err != nil {
			t.Fatalf("%s: %v", dsn, err)
		}
		if err := CheckTLS(cfg); (err == nil) != ok || err != nil && !errors.Is(err, ErrUnverifiedTLS) {
			t.Errorf("%s: CheckTLS = %v, want ok=%v", dsn, err, ok)
		}
	}
}
