package main

import (
	"io"
	"strings"
	"testing"
)

func TestParseConfig(t *testing.T) {
	t.Parallel()
	base := map[string]string{"SLUICE_POSTGRES_URL": "postgres://u:secret@db:5432/sluice"}
	cases := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
	}{
		{name: "defaults with a url", env: base},
		{name: "no url", env: map[string]string{}, wantErr: "SLUICE_POSTGRES_URL"},
		{name: "url without scheme is redacted in the error", env: map[string]string{"SLUICE_POSTGRES_URL": "mysql://u:secret@db/x"}, wantErr: "mysql://…@db/x"},
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
