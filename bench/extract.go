package main

import (
	"context"
	"fmt"
	"time"
)

// extractSuite measures the amazonads extractor against the simulator: three replicas
// sharing one quota that the simulator enforces, against the same workload done by a
// naive client (unbounded concurrency, retry on 429), and with the governor started at
// 4× the real quota so that it must find the limit by itself.
var extractSuite = Suite{Name: "extract", Run: runExtract}

// extractScale sizes the extraction benchmark.
type extractScale struct {
	profiles int
	// quota is the simulator's limit of all API calls (profiles, create, status) per
	// second, with burst quotaBurst.
	quota      float64
	quotaBurst int
	// latency of report generation (lognormal median and cap), scaled down from minutes.
	latencyMedian, latencyMax time.Duration
	// large is a run with big reports, to show that memory does not follow report size.
	largeProfiles, largeCampaigns, largeAdGroups, largeDays int
}

func extractScaleOf(small bool) extractScale {
	s := extractScale{profiles: 4000, quota: 100, quotaBurst: 5, latencyMedian: 300 * time.Millisecond, latencyMax: 3 * time.Second,
		largeProfiles: 12, largeCampaigns: 100, largeAdGroups: 10, largeDays: 31}
	if small {
		s.profiles, s.largeProfiles, s.largeCampaigns = 400, 6, 50
	}
	return s
}

func runExtract(ctx context.Context, env *Env) error {
	sc := extractScaleOf(env.Small)
	if err := buildExtract(ctx, env); err != nil {
		return err
	}
	env.Logf("extract: %d profiles, quota %g/s (burst %d), report latency median %v", sc.profiles, sc.quota, sc.quotaBurst, sc.latencyMedian)

	gov, err := extractVariant(ctx, env, sc, extractVariantCfg{name: "governed", rate: sc.quota})
	if err != nil {
		return fmt.Errorf("governed: %w", err)
	}
	env.Emit("extract_time_ratio", round3(gov.ratio()))
	env.Emit("extract_429_rate", extractRound4(gov.rate429()))
	env.Emit("extract_peak_rss_mb", round(gov.peakRSSMB))

	naive, err := naiveVariant(ctx, env, sc)
	if err != nil {
		return fmt.Errorf("naive: %w", err)
	}
	env.Emit("naive_extract_time_ratio", round3(naive.ratio()))
	env.Emit("naive_extract_429_rate", extractRound4(naive.rate429()))

	ad, err := extractVariant(ctx, env, sc, extractVariantCfg{name: "adaptive", rate: 4 * sc.quota})
	if err != nil {
		return fmt.Errorf("adaptive: %w", err)
	}
	env.Emit("adaptive_extract_time_ratio", round3(ad.ratio()))
	env.Emit("adaptive_extract_429_rate", extractRound4(ad.rate429()))

	large, err := extractVariant(ctx, env, sc, extractVariantCfg{name: "large-reports", rate: sc.quota, large: true})
	if err != nil {
		return fmt.Errorf("large reports: %w", err)
	}
	env.Logf("extract: large reports: %.1f MB downloaded (gzip) in %d reports of %d days × %d ad groups, peak RSS %.0f MB (small reports: %.0f MB)",
		float64(large.bytes)/1e6, sc.largeProfiles, sc.largeDays, sc.largeCampaigns*sc.largeAdGroups, large.peakRSSMB, gov.peakRSSMB)
	env.Emit("extract_peak_rss_large_reports_mb", round(large.peakRSSMB))
	return nil
}

// extractResult is what one extractVariantCfg measured.
type extractResult struct {
	name string
	// wall is from planning the run to the last task finished.
	wall time.Duration
	// admitted API calls (not throttled) and all API calls, from the simulator.
	admitted, requests int64
	quota              float64
	peakRSSMB          float64
	// bytes is the compressed size of the downloaded reports.
	bytes       int64
	maxInWindow int64
}

// ratio is wall time ÷ (calls ÷ quota): 1 means the run took exactly as long as its
// successful calls needed at the quota.
func (r extractResult) ratio() float64 {
	ideal := float64(r.admitted) / r.quota
	if ideal == 0 {
		return 0
	}
	return r.wall.Seconds() / ideal
}

// rate429 is the share of API calls answered 429.
func (r extractResult) rate429() float64 {
	if r.requests == 0 {
		return 0
	}
	return float64(r.requests-r.admitted) / float64(r.requests)
}

func (r extractResult) String() string {
	return fmt.Sprintf("%s: %v wall, %d calls admitted of %d (%.2f%% 429), ideal %.1fs, ratio %.3f, max %d calls in 1s, peak RSS %.0f MB",
		r.name, r.wall.Round(time.Millisecond), r.admitted, r.requests, 100*r.rate429(), float64(r.admitted)/r.quota, r.ratio(), r.maxInWindow, r.peakRSSMB)
}

func extractRound4(v float64) float64 { return float64(int64(v*10000+0.5)) / 10000 }
