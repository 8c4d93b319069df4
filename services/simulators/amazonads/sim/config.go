package sim

import (
	"compress/gzip"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"time"
)

// Config configures a Server and the data it serves. Start from DefaultConfig
// and change what a test needs; New calls Validate.
type Config struct {
	// Seed makes profiles, entities, metrics, report ids, latencies and
	// fault decisions reproducible.
	Seed     uint64
	Profiles ProfilesConfig
	Data     DataConfig
	Auth     AuthConfig
	Reports  ReportsConfig
	Throttle ThrottleConfig
	Faults   FaultConfig
	Stats    StatsConfig
	// PublicURL is the scheme://host[:port] put in download urls. Empty means
	// "http://" + the Host header of the status request.
	PublicURL string
}

// ProfilesConfig shapes the advertiser profiles of GET /v2/profiles.
type ProfilesConfig struct {
	// Count is the number of profiles.
	Count int
	// AgencyShare and VendorShare are the fractions of agency and vendor
	// profiles, spread evenly over the profile indexes; the rest are sellers.
	// Reports on agency profiles are refused with HTTP 400.
	AgencyShare float64
	VendorShare float64
}

// DataConfig shapes the generated report data.
type DataConfig struct {
	// CampaignsPerProfile and AdGroupsPerCampaign set the number of entities,
	// hence rows per (profile, day): CampaignsPerProfile for campaign-level
	// reports, CampaignsPerProfile*AdGroupsPerCampaign for ad-group level.
	CampaignsPerProfile int
	AdGroupsPerCampaign int
	// RetentionDays refuses reports starting more than this many days before
	// today (in the profile's timezone); 0 disables the check.
	RetentionDays int
	// MaxRangeDays is the longest report range, both ends included.
	MaxRangeDays int
	// GzipLevel is the compression level of report files.
	GzipLevel int
}

// AuthConfig configures the Login with Amazon token endpoint.
type AuthConfig struct {
	// Clients are the accepted applications and their refresh tokens.
	Clients []Credentials
	// TokenTTL is the lifetime of an access token (expires_in).
	TokenTTL time.Duration
}

// Credentials is one Login with Amazon application and a refresh token
// granted to it.
type Credentials struct {
	ClientID     string
	ClientSecret string
	RefreshToken string
}

// ReportsConfig shapes report generation time and outcome. A report's total
// generation time is drawn from a lognormal distribution with median
// LatencyMedian and shape LatencySigma, capped at LatencyMax; the first
// PendingShare of it is PENDING, the rest PROCESSING.
type ReportsConfig struct {
	LatencyMedian time.Duration
	LatencySigma  float64
	LatencyMax    time.Duration
	PendingShare  float64
	// StuckRate is the probability that a report stays PENDING for an extra
	// StuckFor before it proceeds.
	StuckRate float64
	StuckFor  time.Duration
	// FailureRate is the probability that a report ends FAILED.
	FailureRate float64
	// URLTTL is the lifetime of a download url; a status call after expiry
	// returns a fresh one.
	URLTTL time.Duration
	// ExactFileSize computes fileSize by compressing the report once
	// (CPU, no memory). When false fileSize is an estimate and downloads have
	// no Content-Length.
	ExactFileSize bool
}

// ThrottleConfig holds the token-bucket limits per endpoint class. Global
// applies to every throttled call (profiles, create, status) in addition to
// the limit of its class. Downloads are not throttled (they are S3 in the
// real system).
type ThrottleConfig struct {
	Global   Limit
	Token    Limit
	Profiles Limit
	Create   Limit
	Status   Limit
	// FractionalRetryAfter sends Retry-After as seconds with three decimals
	// instead of the standard whole seconds (at least 1).
	FractionalRetryAfter bool
}

// Limit is a pair of token buckets: one per client id and one per profile
// (Amazon-Advertising-API-Scope). A rate of 0 disables that bucket. In any
// window of length T a bucket admits at most Burst + Rate*T requests.
type Limit struct {
	ClientRate   float64
	ClientBurst  int
	ProfileRate  float64
	ProfileBurst int
	// NoRetryAfterRate is the probability that a 429 of this class carries no
	// Retry-After header.
	NoRetryAfterRate float64
}

// FaultConfig injects failures. Rates are probabilities per request, drawn
// from a generator seeded by Config.Seed.
type FaultConfig struct {
	// Endpoints limits injection to these classes (token, profiles, create,
	// status, download); empty means all.
	Endpoints []string
	// ServerErrorRate answers 500, 502 or 503.
	ServerErrorRate float64
	// TimeoutRate makes the request hang for TimeoutAfter, then answer 504;
	// TimeoutAfter 0 hangs until the client gives up.
	TimeoutRate  float64
	TimeoutAfter time.Duration
	// SlowBodyRate trickles the response body, SlowChunkBytes every
	// SlowChunkInterval.
	SlowBodyRate      float64
	SlowChunkBytes    int
	SlowChunkInterval time.Duration
	// TruncateRate cuts a download's gzip stream at a random point while the
	// HTTP response itself ends normally.
	TruncateRate float64
	// BombRate replaces a download with a valid gzip stream of a JSON array
	// that decompresses to BombBytes of whitespace from a tiny body.
	BombRate  float64
	BombBytes int64
}

// StatsConfig sizes the request recorder.
type StatsConfig struct {
	// Window is the sliding window over which the maximum request count is
	// recorded.
	Window time.Duration
	// PerSecondHistory is how many seconds of per-second counts are kept.
	PerSecondHistory int
}

// Endpoint classes, used in counters, throttling and fault selection.
const (
	ClassToken    = "token"
	ClassProfiles = "profiles"
	ClassCreate   = "create"
	ClassStatus   = "status"
	ClassDownload = "download"
)

var classes = []string{ClassToken, ClassProfiles, ClassCreate, ClassStatus, ClassDownload}

// DefaultConfig returns a configuration close to the real API: ten
// profiles (one agency), minutes of report latency, no injected faults.
func DefaultConfig() Config {
	return Config{
		Seed: 1,
		Profiles: ProfilesConfig{
			Count:       10,
			AgencyShare: 0.1,
			VendorShare: 0.2,
		},
		Data: DataConfig{
			CampaignsPerProfile: 8,
			AdGroupsPerCampaign: 3,
			RetentionDays:       95,
			MaxRangeDays:        31,
			GzipLevel:           gzip.BestSpeed,
		},
		Auth: AuthConfig{
			Clients: []Credentials{{
				ClientID:     "amzn1.application-oa2-client.sluicesim",
				ClientSecret: "sluice-sim-secret",
				RefreshToken: "Atzr|sluice-sim-refresh-token",
			}},
			TokenTTL: time.Hour,
		},
		Reports: ReportsConfig{
			LatencyMedian: 2 * time.Minute,
			LatencySigma:  1,
			LatencyMax:    3 * time.Hour,
			PendingShare:  0.25,
			StuckRate:     0.01,
			StuckFor:      25 * time.Minute,
			FailureRate:   0.01,
			URLTTL:        time.Hour,
			ExactFileSize: true,
		},
		Throttle: ThrottleConfig{
			Token:    Limit{ClientRate: 5, ClientBurst: 10},
			Profiles: Limit{ClientRate: 2, ClientBurst: 5},
			Create: Limit{ClientRate: 10, ClientBurst: 20, ProfileRate: 1, ProfileBurst: 2,
				NoRetryAfterRate: 0.3},
			Status: Limit{ClientRate: 20, ClientBurst: 40, ProfileRate: 5, ProfileBurst: 5},
		},
		Faults: FaultConfig{
			SlowChunkBytes:    512,
			SlowChunkInterval: 100 * time.Millisecond,
			BombBytes:         1 << 30,
		},
		Stats: StatsConfig{
			Window:           time.Second,
			PerSecondHistory: 3600,
		},
	}
}

// Validate reports every invalid field.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{field}, args...)...))
	}
	rate := func(field string, v float64) {
		if v < 0 || v > 1 {
			bad(field, "probability %v outside [0,1]", v)
		}
	}
	nonNeg := func(field string, d time.Duration) {
		if d < 0 {
			bad(field, "negative duration %v", d)
		}
	}

	if c.Profiles.Count < 1 {
		bad("Profiles.Count", "%d, want at least 1", c.Profiles.Count)
	}
	rate("Profiles.AgencyShare", c.Profiles.AgencyShare)
	rate("Profiles.VendorShare", c.Profiles.VendorShare)
	if c.Profiles.AgencyShare+c.Profiles.VendorShare > 1 {
		bad("Profiles", "AgencyShare+VendorShare > 1")
	}

	if c.Data.CampaignsPerProfile < 1 {
		bad("Data.CampaignsPerProfile", "%d, want at least 1", c.Data.CampaignsPerProfile)
	}
	if c.Data.AdGroupsPerCampaign < 1 {
		bad("Data.AdGroupsPerCampaign", "%d, want at least 1", c.Data.AdGroupsPerCampaign)
	}
	if c.Data.RetentionDays < 0 {
		bad("Data.RetentionDays", "negative %d", c.Data.RetentionDays)
	}
	if c.Data.MaxRangeDays < 1 {
		bad("Data.MaxRangeDays", "%d, want at least 1", c.Data.MaxRangeDays)
	}
	if c.Data.GzipLevel < gzip.HuffmanOnly || c.Data.GzipLevel > gzip.BestCompression {
		bad("Data.GzipLevel", "%d outside [%d,%d]", c.Data.GzipLevel, gzip.HuffmanOnly, gzip.BestCompression)
	}

	if len(c.Auth.Clients) == 0 {
		bad("Auth.Clients", "empty")
	}
	for i, cl := range c.Auth.Clients {
		if cl.ClientID == "" || cl.ClientSecret == "" || cl.RefreshToken == "" {
			bad(fmt.Sprintf("Auth.Clients[%d]", i), "ClientID, ClientSecret and RefreshToken are required")
		}
	}
	if c.Auth.TokenTTL <= 0 {
		bad("Auth.TokenTTL", "%v, want > 0", c.Auth.TokenTTL)
	}

	r := c.Reports
	nonNeg("Reports.LatencyMedian", r.LatencyMedian)
	nonNeg("Reports.LatencyMax", r.LatencyMax)
	nonNeg("Reports.StuckFor", r.StuckFor)
	if r.LatencyMedian > r.LatencyMax {
		bad("Reports.LatencyMedian", "%v above LatencyMax %v", r.LatencyMedian, r.LatencyMax)
	}
	if r.LatencySigma < 0 {
		bad("Reports.LatencySigma", "negative %v", r.LatencySigma)
	}
	rate("Reports.PendingShare", r.PendingShare)
	rate("Reports.StuckRate", r.StuckRate)
	rate("Reports.FailureRate", r.FailureRate)
	if r.URLTTL <= 0 {
		bad("Reports.URLTTL", "%v, want > 0", r.URLTTL)
	}

	for _, nl := range []struct {
		name string
		l    Limit
	}{{"Global", c.Throttle.Global}, {"Token", c.Throttle.Token}, {"Profiles", c.Throttle.Profiles},
		{"Create", c.Throttle.Create}, {"Status", c.Throttle.Status}} {
		field, l := "Throttle."+nl.name, nl.l
		if l.ClientRate < 0 || l.ProfileRate < 0 {
			bad(field, "negative rate")
		}
		if l.ClientRate > 0 && l.ClientBurst < 1 {
			bad(field+".ClientBurst", "%d, want at least 1 when ClientRate is set", l.ClientBurst)
		}
		if l.ProfileRate > 0 && l.ProfileBurst < 1 {
			bad(field+".ProfileBurst", "%d, want at least 1 when ProfileRate is set", l.ProfileBurst)
		}
		rate(field+".NoRetryAfterRate", l.NoRetryAfterRate)
	}

	f := c.Faults
	for _, e := range f.Endpoints {
		if !isClass(e) {
			bad("Faults.Endpoints", "unknown class %q (want one of %v)", e, classes)
		}
	}
	rate("Faults.ServerErrorRate", f.ServerErrorRate)
	rate("Faults.TimeoutRate", f.TimeoutRate)
	rate("Faults.SlowBodyRate", f.SlowBodyRate)
	rate("Faults.TruncateRate", f.TruncateRate)
	rate("Faults.BombRate", f.BombRate)
	if sum := f.ServerErrorRate + f.TimeoutRate + f.SlowBodyRate; sum > 1 {
		bad("Faults", "ServerErrorRate+TimeoutRate+SlowBodyRate = %v > 1", sum)
	}
	if f.TruncateRate+f.BombRate > 1 {
		bad("Faults", "TruncateRate+BombRate > 1")
	}
	nonNeg("Faults.TimeoutAfter", f.TimeoutAfter)
	nonNeg("Faults.SlowChunkInterval", f.SlowChunkInterval)
	if f.SlowChunkBytes < 1 {
		bad("Faults.SlowChunkBytes", "%d, want at least 1", f.SlowChunkBytes)
	}
	if f.BombBytes < bombChunk {
		bad("Faults.BombBytes", "%d, want at least %d", f.BombBytes, bombChunk)
	}

	if c.Stats.Window <= 0 {
		bad("Stats.Window", "%v, want > 0", c.Stats.Window)
	}
	if c.Stats.PerSecondHistory < 1 {
		bad("Stats.PerSecondHistory", "%d, want at least 1", c.Stats.PerSecondHistory)
	}
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || u.Scheme == "" || u.Host == "" {
			bad("PublicURL", "%q is not an absolute url", c.PublicURL)
		}
	}
	return errors.Join(errs...)
}

func isClass(s string) bool { return slices.Contains(classes, s) }
