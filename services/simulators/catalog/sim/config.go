package sim

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"
)

// Config configures the simulator.
type Config struct {
	// Seed makes the catalog; the same seed gives the same hotels.
	Seed int64
	// Hotels is the number of hotels, ids 1..Hotels.
	Hotels int64
	// MaxPageSize caps the list endpoint's limit parameter; DefaultPageSize is used
	// when the request has none.
	MaxPageSize, DefaultPageSize int
	// APIKeys are the accepted X-Api-Key values; each has its own QPS limit.
	APIKeys []string
	// KeyRate is the QPS limit of each API key (0: none), with burst KeyBurst.
	KeyRate  float64
	KeyBurst int
	// NoRetryAfter is the share of 429s sent without a Retry-After header.
	NoRetryAfter float64
	// ErrorRate is the share of admitted calls answered 500 or 503.
	ErrorRate float64
	// SlowRate is the share of admitted calls delayed by Slow.
	SlowRate float64
	Slow     time.Duration
	// Latency delays every answer.
	Latency time.Duration
}

// DefaultConfig is a small catalog with two keys and no faults.
func DefaultConfig() Config {
	return Config{Seed: 1, Hotels: 1000, MaxPageSize: 200, DefaultPageSize: 50,
		APIKeys: []string{"sim-key-1", "sim-key-2"}, KeyRate: 20, KeyBurst: 2,
		NoRetryAfter: 0.3, Slow: 500 * time.Millisecond}
}

// Validate names every wrong field.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Hotels < 0 {
		bad("hotels %d: must not be negative", c.Hotels)
	}
	if c.MaxPageSize < 1 || c.DefaultPageSize < 1 || c.DefaultPageSize > c.MaxPageSize {
		bad("page sizes: want 1 <= default (%d) <= max (%d)", c.DefaultPageSize, c.MaxPageSize)
	}
	if len(c.APIKeys) == 0 {
		bad("api keys: at least one is required")
	}
	for _, k := range c.APIKeys {
		if k == "" {
			bad("api keys: empty key")
		}
	}
	if c.KeyRate < 0 || c.KeyBurst < 0 {
		bad("key rate %v / burst %d: must not be negative", c.KeyRate, c.KeyBurst)
	}
	for name, v := range map[string]float64{"no-retry-after": c.NoRetryAfter, "error-rate": c.ErrorRate, "slow-rate": c.SlowRate} {
		if v < 0 || v > 1 {
			bad("%s %v: must be in [0, 1]", name, v)
		}
	}
	if c.Slow < 0 || c.Latency < 0 {
		bad("slow %v / latency %v: must not be negative", c.Slow, c.Latency)
	}
	return errors.Join(errs...)
}

// RegisterFlags binds c's fields to flags of fs.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.Int64Var(&c.Seed, "seed", c.Seed, "catalog seed")
	fs.Int64Var(&c.Hotels, "hotels", c.Hotels, "number of hotels")
	fs.IntVar(&c.MaxPageSize, "max-page-size", c.MaxPageSize, "largest list page")
	fs.IntVar(&c.DefaultPageSize, "page-size", c.DefaultPageSize, "list page size without a limit parameter")
	fs.Func("api-keys", "comma-separated accepted API keys (default "+strings.Join(c.APIKeys, ",")+")", func(s string) error {
		c.APIKeys = strings.Split(s, ",")
		return nil
	})
	fs.Float64Var(&c.KeyRate, "key-rate", c.KeyRate, "QPS limit per API key (0: none)")
	fs.IntVar(&c.KeyBurst, "key-burst", c.KeyBurst, "burst of the per-key limit")
	fs.Float64Var(&c.NoRetryAfter, "no-retry-after", c.NoRetryAfter, "share of 429s without Retry-After")
	fs.Float64Var(&c.ErrorRate, "error-rate", c.ErrorRate, "share of calls answered 500/503")
	fs.Float64Var(&c.SlowRate, "slow-rate", c.SlowRate, "share of calls delayed by --slow")
	fs.DurationVar(&c.Slow, "slow", c.Slow, "delay of a slow call")
	fs.DurationVar(&c.Latency, "latency", c.Latency, "delay of every call")
}
