package main

import (
	"io"
	"strings"
	"testing"
	"time"
)

func TestParseConfig(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
		check   func(t *testing.T, c serviceConfig)
	}{
		{name: "defaults", check: func(t *testing.T, c serviceConfig) {
			if c.Retention != 0 || c.Mongo.WriteConcern != "majority" || c.Batch.MaxMessages != 64 {
				t.Errorf("defaults: %+v", c)
			}
		}},
		{name: "retention from the environment", env: map[string]string{"SLUICE_STAGING_RETENTION": "720h", "SLUICE_MONGO_WRITE_CONCERN": "2"},
			check: func(t *testing.T, c serviceConfig) {
				if c.Retention != 720*time.Hour || c.Mongo.WriteConcern != "2" {
					t.Errorf("got retention %v, write concern %q", c.Retention, c.Mongo.WriteConcern)
				}
			}},
		{name: "negative retention", args: []string{"--retention", "-1h"}, wantErr: "--retention"},
		{name: "retention without interval", args: []string{"--retention", "1h", "--retention-interval", "0s"}, wantErr: "--retention-interval"},
		{name: "bad write concern", args: []string{"--mongo-write-concern", "all"}, wantErr: "SLUICE_MONGO_WRITE_CONCERN"},
		{name: "ack pending below batch", args: []string{"--batch-size", "100", "--max-ack-pending", "10"}, wantErr: "--max-ack-pending"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := parseConfig(c.args, func(k string) string { return c.env[k] }, io.Discard)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error %v, want one naming %s", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c.check(t, cfg)
		})
	}
}
