package sim

import (
	"flag"
	"strings"
)

// RegisterFlags defines a command-line flag for every setting of c, with
// c's current values as defaults; parsing fs writes into c. c must have
// exactly one Auth client (DefaultConfig does).
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.Uint64Var(&c.Seed, "seed", c.Seed, "seed of all generated data, ids, latencies and faults")
	fs.StringVar(&c.PublicURL, "public-url", c.PublicURL, "scheme://host:port put in download urls (default: the request's Host)")

	fs.IntVar(&c.Profiles.Count, "profiles", c.Profiles.Count, "number of advertiser profiles")
	fs.Float64Var(&c.Profiles.AgencyShare, "agency-share", c.Profiles.AgencyShare, "fraction of agency profiles (reports refused)")
	fs.Float64Var(&c.Profiles.VendorShare, "vendor-share", c.Profiles.VendorShare, "fraction of vendor profiles")

	fs.IntVar(&c.Data.CampaignsPerProfile, "campaigns", c.Data.CampaignsPerProfile, "campaigns per profile (rows per profile and day of campaign reports)")
	fs.IntVar(&c.Data.AdGroupsPerCampaign, "ad-groups", c.Data.AdGroupsPerCampaign, "ad groups per campaign")
	fs.IntVar(&c.Data.RetentionDays, "retention-days", c.Data.RetentionDays, "refuse reports starting earlier than this many days ago; 0 disables")
	fs.IntVar(&c.Data.MaxRangeDays, "max-range-days", c.Data.MaxRangeDays, "longest report date range in days")
	fs.IntVar(&c.Data.GzipLevel, "gzip-level", c.Data.GzipLevel, "gzip level of report files (-2..9)")

	if len(c.Auth.Clients) == 1 {
		cl := &c.Auth.Clients[0]
		fs.StringVar(&cl.ClientID, "client-id", cl.ClientID, "accepted Login with Amazon client id")
		fs.StringVar(&cl.ClientSecret, "client-secret", cl.ClientSecret, "accepted client secret")
		fs.StringVar(&cl.RefreshToken, "refresh-token", cl.RefreshToken, "accepted refresh token")
	}
	fs.DurationVar(&c.Auth.TokenTTL, "token-ttl", c.Auth.TokenTTL, "access token lifetime")

	r := &c.Reports
	fs.DurationVar(&r.LatencyMedian, "latency-median", r.LatencyMedian, "median report generation time (lognormal)")
	fs.Float64Var(&r.LatencySigma, "latency-sigma", r.LatencySigma, "lognormal shape of the generation time")
	fs.DurationVar(&r.LatencyMax, "latency-max", r.LatencyMax, "cap of the generation time")
	fs.Float64Var(&r.PendingShare, "pending-share", r.PendingShare, "share of the generation time spent PENDING before PROCESSING")
	fs.Float64Var(&r.StuckRate, "stuck-rate", r.StuckRate, "probability that a report stays PENDING for an extra --stuck-for")
	fs.DurationVar(&r.StuckFor, "stuck-for", r.StuckFor, "extra PENDING time of stuck reports")
	fs.Float64Var(&r.FailureRate, "failure-rate", r.FailureRate, "probability that a report ends FAILED")
	fs.DurationVar(&r.URLTTL, "url-ttl", r.URLTTL, "lifetime of a pre-signed download url")
	fs.BoolVar(&r.ExactFileSize, "exact-file-size", r.ExactFileSize, "compute fileSize exactly (one extra compression pass per report)")

	t := &c.Throttle
	for _, l := range []struct {
		name string
		l    *Limit
	}{{"global", &t.Global}, {"token", &t.Token}, {"profiles", &t.Profiles}, {"create", &t.Create}, {"status", &t.Status}} {
		what := l.name + " calls"
		if l.name == "global" {
			what = "all API calls together (profiles, create, status)"
		}
		fs.Float64Var(&l.l.ClientRate, l.name+"-client-rate", l.l.ClientRate, "requests/s per client id for "+what+"; 0 = unlimited")
		fs.IntVar(&l.l.ClientBurst, l.name+"-client-burst", l.l.ClientBurst, "burst per client id for "+what)
		if l.name != "token" && l.name != "profiles" {
			fs.Float64Var(&l.l.ProfileRate, l.name+"-profile-rate", l.l.ProfileRate, "requests/s per profile for "+what+"; 0 = unlimited")
			fs.IntVar(&l.l.ProfileBurst, l.name+"-profile-burst", l.l.ProfileBurst, "burst per profile for "+what)
		}
		fs.Float64Var(&l.l.NoRetryAfterRate, l.name+"-no-retry-after", l.l.NoRetryAfterRate, "probability that a 429 of "+what+" has no Retry-After")
	}
	fs.BoolVar(&t.FractionalRetryAfter, "fractional-retry-after", t.FractionalRetryAfter, "send Retry-After with three decimals instead of whole seconds")

	f := &c.Faults
	fs.Func("fault-endpoints", "comma-separated classes faults apply to (token,profiles,create,status,download); default all",
		func(s string) error {
			f.Endpoints = strings.Split(s, ",")
			return nil
		})
	fs.Float64Var(&f.ServerErrorRate, "server-error-rate", f.ServerErrorRate, "probability of a 500/502/503")
	fs.Float64Var(&f.TimeoutRate, "timeout-rate", f.TimeoutRate, "probability of a hang")
	fs.DurationVar(&f.TimeoutAfter, "timeout-after", f.TimeoutAfter, "hang length before a 504; 0 hangs until the client gives up")
	fs.Float64Var(&f.SlowBodyRate, "slow-body-rate", f.SlowBodyRate, "probability of a trickled response body")
	fs.IntVar(&f.SlowChunkBytes, "slow-chunk-bytes", f.SlowChunkBytes, "bytes per trickle")
	fs.DurationVar(&f.SlowChunkInterval, "slow-chunk-interval", f.SlowChunkInterval, "pause between trickles")
	fs.Float64Var(&f.TruncateRate, "truncate-rate", f.TruncateRate, "probability that a download's gzip stream is cut short")
	fs.Float64Var(&f.BombRate, "bomb-rate", f.BombRate, "probability that a download is a gzip bomb")
	fs.Int64Var(&f.BombBytes, "bomb-bytes", f.BombBytes, "decompressed size of the gzip bomb")

	fs.DurationVar(&c.Stats.Window, "stats-window", c.Stats.Window, "sliding window of the recorded request maxima")
	fs.IntVar(&c.Stats.PerSecondHistory, "stats-seconds", c.Stats.PerSecondHistory, "seconds of per-second counts kept")
}
