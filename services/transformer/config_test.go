package main

import (
	"io"
	"strings"
	"testing"
)

func TestParseConfig(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "defaults"},
		{name: "no workers", args: []string{"--workers", "0"}, wantErr: "--workers"},
		{name: "batch over the NATS message limit", args: []string{"--bytes-per-batch", "2000000"}, wantErr: "--bytes-per-batch"},
		{name: "no rows per batch", args: []string{"--rows-per-batch", "0"}, wantErr: "--rows-per-batch"},
		{name: "ack pending below workers", args: []string{"--workers", "8", "--max-ack-pending", "4"}, wantErr: "--max-ack-pending"},
		{name: "bad s3 endpoint", args: []string{"--s3-endpoint", "localhost:9000"}, wantErr: "SLUICE_S3_ENDPOINT"},
		{name: "s3 secret as a flag", args: []string{"--s3-secret-key", "k"}, wantErr: "SLUICE_S3_SECRET_KEY_FILE"},
		{name: "tiny decompression bound", args: []string{"--max-decompressed-bytes", "10"}, wantErr: "--max-decompressed-bytes"},
		{name: "ratio below 2", args: []string{"--max-decompression-ratio", "1"}, wantErr: "--max-decompression-ratio"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := parseConfig(c.args, func(string) string { return "" }, io.Discard)
			if c.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("error %v, want one mentioning %q", err, c.wantErr)
			}
		})
	}
}
