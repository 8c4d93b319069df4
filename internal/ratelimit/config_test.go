package ratelimit

import (
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	ok := func() Config {
		return Config{Namespace: "amazonads", Quotas: map[string]QuotaConfig{"default": {Limit: Limit{Rate: 10}}}}
	}
	tests := []struct {
		name   string
		mutate func(*Config)
		want   []string // substrings of the error; none means valid
	}{
		{"minimal", func(*Config) {}, nil},
		{"with defaults", func(c *Config) { *c = c.WithDefaults() }, nil},
		{"per key", func(c *Config) {
			c.Quotas["default"] = QuotaConfig{Limit: Limit{Rate: 10}, PerKey: &Limit{Rate: 2, Burst: 2}}
		}, nil},
		{"no namespace", func(c *Config) { c.Namespace = "" }, []string{"Namespace: required"}},
		{"no quotas", func(c *Config) { c.Quotas = nil }, []string{"Quotas: at least one"}},
		{"zero rate", func(c *Config) { c.Quotas["default"] = QuotaConfig{} }, []string{`Quotas["default"].Rate`}},
		{"negative burst", func(c *Config) { c.Quotas["default"] = QuotaConfig{Limit: Limit{Rate: 1, Burst: -1}} }, []string{`Quotas["default"].Burst`}},
		{"min above rate", func(c *Config) { c.Quotas["default"] = QuotaConfig{Limit: Limit{Rate: 1, MinRate: 2}} }, []string{`Quotas["default"].MinRate`}},
		{"start above rate", func(c *Config) { c.Quotas["default"] = QuotaConfig{Limit: Limit{Rate: 1, StartRate: 2}} }, []string{`Quotas["default"].StartRate`}},
		{"headroom", func(c *Config) { c.Quotas["default"] = QuotaConfig{Limit: Limit{Rate: 1, Headroom: 0.5}} }, []string{"Headroom"}},
		{"per key path", func(c *Config) {
			c.Quotas["default"] = QuotaConfig{Limit: Limit{Rate: 10}, PerKey: &Limit{Rate: -1}}
		}, []string{`Quotas["default"].PerKey.Rate`}},
		{"adaptive", func(c *Config) {
			c.Quotas["default"] = QuotaConfig{Limit: Limit{Rate: 1, Adaptive: Adaptive{Backoff: 0.9, NearBackoff: 0.5, Margin: 1}}}
		}, []string{`Quotas["default"].Adaptive.NearBackoff`, `Adaptive.Margin`}},
		{"pause", func(c *Config) {
			c.Quotas["default"] = QuotaConfig{Limit: Limit{Rate: 1, Adaptive: Adaptive{PauseBase: time.Second, PauseMax: time.Millisecond}}}
		}, []string{"Adaptive.PauseMax"}},
		{"host caps", func(c *Config) { c.HostConcurrency = -1; c.Hosts = map[string]int{"a": -2} }, []string{"HostConcurrency", `Hosts["a"]`}},
		{"lease ttl", func(c *Config) { c.LeaseTTL = time.Millisecond }, []string{"LeaseTTL"}},
		{"several at once", func(c *Config) { c.Namespace = ""; c.MaxBatch = -1; c.Lookahead = -1 }, []string{"Namespace", "MaxBatch", "Lookahead"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := ok()
			tt.mutate(&c)
			err := c.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want errors naming %v", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q, want it to name %q", err, w)
				}
			}
		})
	}
}

func TestLimitDefaults(t *testing.T) {
	t.Parallel()
	l := Limit{Rate: 100}.WithDefaults()
	if l.Burst != 1 || l.Headroom != DefaultHeadroom || l.StartRate != 98 || l.MinRate != 1 {
		t.Errorf("defaults = burst %d headroom %v start %v min %v", l.Burst, l.Headroom, l.StartRate, l.MinRate)
	}
	if got := (Limit{Rate: 100, Headroom: -1}).WithDefaults().ceiling(); got != 100 {
		t.Errorf("negative headroom: ceiling %v, want 100", got)
	}
	a := l.Adaptive
	if a.Backoff != DefaultBackoff || a.NearBackoff != DefaultNearBackoff || a.Hold != DefaultHold || a.PauseBase != DefaultPauseBase {
		t.Errorf("adaptive defaults = %+v", a)
	}
	c := Config{Namespace: "n", Quotas: map[string]QuotaConfig{"q": {Limit: Limit{Rate: 1}, PerKey: &Limit{Rate: 2}}}}.WithDefaults()
	if c.Bucket != DefaultBucket || c.LeaseTTL != DefaultLeaseTTL || c.Lookahead != DefaultLookahead || c.MaxBatch != DefaultMaxBatch {
		t.Errorf("config defaults = %+v", c)
	}
	if c.Quotas["q"].PerKey.Burst != 1 {
		t.Errorf("per-key defaults not applied")
	}
}

func TestKeyToken(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"", "="},
		{"amazonads", "amazonads"},
		{"1234567890", "1234567890"},
		{"api.example.com:443", "api=2Eexample=2Ecom=3A443"},
		{"a=b", "a=3Db"},
		{"under_score-dash", "under_score-dash"},
		{"ü", "=C3=BC"},
	}
	for _, tt := range tests {
		if got := keyToken(tt.in); got != tt.want {
			t.Errorf("keyToken(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if a, b := perKeyKey("ns", "q", "x.y"), perKeyKey("ns", "q.x", "y"); a == b {
		t.Errorf("distinct names share a key: %s", a)
	}
}
