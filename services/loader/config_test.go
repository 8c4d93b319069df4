package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(content+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParseConfig(t *testing.T) {
	t.Parallel()
	base := map[string]string{"SLUICE_POSTGRES_URL": "postgres://u:secret@db:5432/sluice?sslmode=disable"}
	cases := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
	}{
		{name: "defaults with a url", env: base},
		{name: "no url", env: map[string]string{}, wantErr: "SLUICE_POSTGRES_URL"},
		{name: "key=value string as sluice provision takes it", env: map[string]string{"SLUICE_POSTGRES_URL": "host=db port=5432 user=loader password=secret dbname=sluice sslmode=disable"}},
		{name: "password from a file", env: map[string]string{"SLUICE_POSTGRES_URL_FILE": writeFile(t, "postgres://u:secret@db:5432/sluice?sslmode=disable")}},
		{name: "password query parameter is not shown", env: map[string]string{"SLUICE_POSTGRES_URL": "postgres://u@db:5432/x?password=secret&sslmode=nonsense"}, wantErr: "not a valid PostgreSQL"},
		{name: "key=value password is not shown", env: map[string]string{"SLUICE_POSTGRES_URL": "host=db password=secret port=notaport"}, wantErr: "not a valid PostgreSQL"},
		{name: "password on the command line", args: []string{"--postgres-url", "postgres://u:secret@db/x"}, wantErr: "carries a password"},
		{name: "key=value password on the command line", args: []string{"--postgres-url=host=db password=secret"}, wantErr: "carries a password"},
		{name: "url without password on the command line", args: []string{"--postgres-url", "postgres://loader@db:5432/x?sslmode=disable"}},
		{name: "tls without verification", env: map[string]string{"SLUICE_POSTGRES_URL": "postgres://u:secret@db:5432/x?sslmode=require"}, wantErr: "verify-full"},
		{name: "no sslmode means prefer", env: map[string]string{"SLUICE_POSTGRES_URL": "postgres://u:secret@db:5432/x"}, wantErr: "encrypts without verifying"},
		{name: "no connections", args: []string{"--postgres-max-conns", "0"}, env: base, wantErr: "--postgres-max-conns"},
		{name: "ack pending below batch", args: []string{"--batch-size", "64", "--max-ack-pending", "8"}, env: base, wantErr: "--max-ack-pending"},
		{name: "zero batch bytes", args: []string{"--batch-bytes", "0"}, env: base, wantErr: "batch"},
		{name: "short ack wait", args: []string{"--ack-wait", "10ms"}, env: base, wantErr: "--ack-wait"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := parseConfig(c.args, func(k string) string { return c.env[k] }, io.Discard)
			if c.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("error %v, want one mentioning %q", err, c.wantErr)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error %q leaks the password", err)
			}
		})
	}
}
