// Package sim simulates the Amazon Ads v3 reporting API for tests, demos and
// benchmarks: Login with Amazon tokens, advertiser profiles, asynchronous
// report creation with duplicate detection (HTTP 425), status polling,
// pre-signed expiring download URLs serving gzipped JSON, throttling with
// token buckets (HTTP 429 with and without Retry-After) and fault injection.
//
// Report data is a pure function of the seed and the request, so a test can
// compute the exact expected rows (Rows, ReportRows) or their summary
// (Expected, ExpectedReport) without running a server, and compare it with
// what a pipeline loaded, using RowChecksum.
//
// A Server is an http.Handler; run it in-process with httptest.NewServer or
// on a listener with Serve. Time comes from an injectable Clock (see
// ManualClock) and every latency, TTL and delay is a time.Duration, so tests
// run in milliseconds.
package sim
