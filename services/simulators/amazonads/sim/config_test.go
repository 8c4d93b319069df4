package sim

import (
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		edit    func(c *Config)
		wantErr string
	}{
		{"defaults", func(*Config) {}, ""},
		{"no profiles", func(c *Config) { c.Profiles.Count = 0 }, "Profiles.Count"},
		{"shares above one", func(c *Config) { c.Profiles.AgencyShare, c.Profiles.VendorShare = 0.6, 0.6 }, "AgencyShare+VendorShare"},
		{"no campaigns", func(c *Config) { c.Data.CampaignsPerProfile = 0 }, "CampaignsPerProfile"},
		{"bad gzip level", func(c *Config) { c.Data.GzipLevel = 12 }, "GzipLevel"},
		{"no clients", func(c *Config) { c.Auth.Clients = nil }, "Auth.Clients"},
		{"empty secret", func(c *Config) { c.Auth.Clients[0].ClientSecret = "" }, "Auth.Clients[0]"},
		{"zero token ttl", func(c *Config) { c.Auth.TokenTTL = 0 }, "TokenTTL"},
		{"median above max", func(c *Config) { c.Reports.LatencyMedian = 4 * time.Hour }, "LatencyMedian"},
		{"failure rate", func(c *Config) { c.Reports.FailureRate = 1.5 }, "FailureRate"},
		{"rate without burst", func(c *Config) { c.Throttle.Status.ProfileBurst = 0 }, "Throttle.Status.ProfileBurst"},
		{"negative rate", func(c *Config) { c.Throttle.Global.ClientRate = -1 }, "Throttle.Global"},
		{"unknown fault class", func(c *Config) { c.Faults.Endpoints = []string{"reports"} }, "unknown class"},
		{"faults above one", func(c *Config) { c.Faults.ServerErrorRate, c.Faults.TimeoutRate = 0.7, 0.7 }, "ServerErrorRate+TimeoutRate"},
		{"small bomb", func(c *Config) { c.Faults.BombBytes = 10 }, "BombBytes"},
		{"zero window", func(c *Config) { c.Stats.Window = 0 }, "Stats.Window"},
		{"relative public url", func(c *Config) { c.PublicURL = "localhost:8089" }, "PublicURL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := DefaultConfig()
			tt.edit(&c)
			err := c.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one mentioning %q", err, tt.wantErr)
			}
		})
	}
}
