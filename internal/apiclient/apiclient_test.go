package apiclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/sluice-dev/sluice/internal/ratelimit"
)

// newGovernor returns an in-process governor with a generous quota and short pauses.
func newGovernor(t *testing.T, mutate ...func(*ratelimit.Config)) *ratelimit.Governor {
	t.Helper()
	cfg := ratelimit.Config{
		Namespace: "apiclient-test",
		Quotas: map[string]ratelimit.QuotaConfig{"api": {
			Limit:  ratelimit.Limit{Rate: 1000, Burst: 100, Adaptive: ratelimit.Adaptive{PauseBase: time.Millisecond, PauseMax: 5 * time.Millisecond}},
			PerKey: &ratelimit.Limit{Rate: 1000, Burst: 100},
		}},
	}
	for _, m := range mutate {
		m(&cfg)
	}
	g, err := ratelimit.NewLocal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return g
}

// fastConfig retries quickly.
var fastConfig = Config{InitialBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, MaxAttempts: 4}

func newClient(t *testing.T, cfg Config, gov *ratelimit.Governor, opts ...Option) *Client {
	t.Helper()
	c, err := New(cfg, gov, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// scripted answers each request with the next status of a script (the last repeats)
// and counts requests.
type scripted struct {
	mu     sync.Mutex
	script []func(w http.ResponseWriter)
	hits   int
	bodies []string
}

func (s *scripted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	i := min(s.hits, len(s.script)-1)
	s.hits++
	s.bodies = append(s.bodies, string(b))
	s.mu.Unlock()
	s.script[i](w)
}

func (s *scripted) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits
}

func status(code int, headers ...string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Set(headers[i], headers[i+1])
		}
		w.WriteHeader(code)
		fmt.Fprintf(w, "body of %d", code)
	}
}

func get(t *testing.T, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestThrottledWithRetryAfterIsRetriedAndShared(t *testing.T) {
	t.Parallel()
	srv := &scripted{script: []func(http.ResponseWriter){status(429, "Retry-After", "0.3"), status(200)}}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	gov := newGovernor(t)
	c := newClient(t, fastConfig, gov)
	began := time.Now()
	resp, err := c.Do(context.Background(), get(t, ts.URL), WithQuota("api"))
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, resp); got != "body of 200" {
		t.Errorf("body %q", got)
	}
	if srv.count() != 2 {
		t.Errorf("%d requests, want 2", srv.count())
	}
	if took := time.Since(began); took < 300*time.Millisecond {
		t.Errorf("retried after %v, before Retry-After 300ms", took)
	}
	st, err := gov.Status(context.Background(), "api", "")
	if err != nil {
		t.Fatal(err)
	}
	if st.Throttled != 1 || st.PauseUntil.IsZero() {
		t.Errorf("governor not told: %+v", st)
	}
}

func TestThrottledWithoutRetryAfterBacksOff(t *testing.T) {
	t.Parallel()
	srv := &scripted{script: []func(http.ResponseWriter){status(429), status(429), status(200)}}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	gov := newGovernor(t)
	c := newClient(t, fastConfig, gov)
	resp, err := c.Do(context.Background(), get(t, ts.URL), WithQuota("api"), WithKey("profile-1"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if srv.count() != 3 {
		t.Errorf("%d requests, want 3", srv.count())
	}
	// ScopeAuto charged both the per-key limit and the quota.
	key, _ := gov.Status(context.Background(), "api", "profile-1")
	quota, _ := gov.Status(context.Background(), "api", "")
	if key.Throttled != 2 || quota.Throttled != 2 {
		t.Errorf("throttles charged: key %d, quota %d; want 2, 2", key.Throttled, quota.Throttled)
	}
	// WithThrottleScope(ScopeKey) spares the quota.
	srv2 := &scripted{script: []func(http.ResponseWriter){status(429), status(200)}}
	ts2 := httptest.NewServer(srv2)
	defer ts2.Close()
	resp, err = c.Do(context.Background(), get(t, ts2.URL), WithQuota("api"), WithKey("profile-2"), WithThrottleScope(ratelimit.ScopeKey))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	key, _ = gov.Status(context.Background(), "api", "profile-2")
	quota, _ = gov.Status(context.Background(), "api", "")
	if key.Throttled != 1 || quota.Throttled != 2 {
		t.Errorf("ScopeKey: key %d, quota %d; want 1, 2", key.Throttled, quota.Throttled)
	}
}

func TestThrottledTooLongReturnsStatusError(t *testing.T) {
	t.Parallel()
	srv := &scripted{script: []func(http.ResponseWriter){status(429, "Retry-After", "3600")}}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	c := newClient(t, Config{MaxRetryAfter: time.Second}, newGovernor(t, func(c *ratelimit.Config) {
		c.Quotas["api"] = ratelimit.QuotaConfig{Limit: ratelimit.Limit{Rate: 100}}
	}))
	_, err := c.Do(context.Background(), get(t, ts.URL))
	var se *StatusError
	if !errors.As(err, &se) || se.StatusCode != 429 || se.RetryAfter != time.Hour || !se.Temporary() {
		t.Fatalf("err = %v, want a temporary 429 StatusError with RetryAfter 1h", err)
	}
	if srv.count() != 1 {
		t.Errorf("%d requests, want 1", srv.count())
	}
}

func TestServerErrorsAreRetriedWithBodyReplay(t *testing.T) {
	t.Parallel()
	srv := &scripted{script: []func(http.ResponseWriter){status(503), status(500), status(502), status(201)}}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	c := newClient(t, fastConfig, newGovernor(t))
	req, err := http.NewRequest(http.MethodPost, ts.URL, strings.NewReader(`{"name":"report"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(context.Background(), req, WithQuota("api"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 || srv.count() != 4 {
		t.Errorf("status %d after %d requests, want 201 after 4", resp.StatusCode, srv.count())
	}
	for i, b := range srv.bodies {
		if b != `{"name":"report"}` {
			t.Errorf("attempt %d sent body %q", i+1, b)
		}
	}
}

func TestServerErrorsExhaustAttempts(t *testing.T) {
	t.Parallel()
	srv := &scripted{script: []func(http.ResponseWriter){status(500)}}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	c := newClient(t, Config{InitialBackoff: time.Millisecond, MaxBackoff: time.Millisecond, MaxAttempts: 3}, newGovernor(t))
	_, err := c.Do(context.Background(), get(t, ts.URL), WithQuota("api"))
	var se *StatusError
	if !errors.As(err, &se) || se.StatusCode != 500 || se.Attempts != 3 || !se.Temporary() {
		t.Fatalf("err = %v, want 500 after 3 attempts", err)
	}
	if srv.count() != 3 {
		t.Errorf("%d requests, want 3", srv.count())
	}
}

func TestClientErrorsAreNotRetried(t *testing.T) {
	t.Parallel()
	for _, code := range []int{400, 403, 404, 422, 425, 501} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			t.Parallel()
			srv := &scripted{script: []func(http.ResponseWriter){status(code, "X-Request-Id", "r1")}}
			ts := httptest.NewServer(srv)
			defer ts.Close()
			c := newClient(t, fastConfig, newGovernor(t))
			resp, err := c.Do(context.Background(), get(t, ts.URL+"/v2/x?token=secret"), WithQuota("api"))
			if resp != nil {
				t.Errorf("response returned with error")
			}
			var se *StatusError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want *StatusError", err)
			}
			if se.StatusCode != code || se.Attempts != 1 || string(se.Body) != fmt.Sprintf("body of %d", code) || se.Header.Get("X-Request-Id") != "r1" {
				t.Errorf("StatusError = %+v", se)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error leaks the query string: %v", err)
			}
			if se.Temporary() {
				t.Errorf("%d reported temporary", code)
			}
			if srv.count() != 1 {
				t.Errorf("%d requests, want 1", srv.count())
			}
		})
	}
}

func TestConnectionErrorsAreRetried(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) == 1 {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close() // drop the connection without an answer
			}
			return
		}
		fmt.Fprint(w, "ok")
	}))
	defer ts.Close()
	c := newClient(t, fastConfig, newGovernor(t))
	resp, err := c.Do(context.Background(), get(t, ts.URL), WithQuota("api"))
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, resp); got != "ok" || hits.Load() != 2 {
		t.Errorf("body %q after %d requests", got, hits.Load())
	}
}

func TestBodyThatCannotBeReplayed(t *testing.T) {
	t.Parallel()
	srv := &scripted{script: []func(http.ResponseWriter){status(500), status(200)}}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	c := newClient(t, fastConfig, newGovernor(t))
	req, err := http.NewRequest(http.MethodPost, ts.URL, io.NopCloser(bytes.NewReader([]byte("once"))))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Do(context.Background(), req, WithQuota("api"))
	if !errors.Is(err, ErrNotReplayable) {
		t.Fatalf("err = %v, want ErrNotReplayable", err)
	}
	var se *StatusError
	if !errors.As(err, &se) || se.StatusCode != 500 {
		t.Errorf("the cause is lost: %v", err)
	}
}

// tokenAuth sets a bearer token and refreshes it to the next version.
type tokenAuth struct {
	mu        sync.Mutex
	token     int
	refreshes atomic.Int64
}

func (a *tokenAuth) Authorize(_ context.Context, req *http.Request) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	req.Header.Set("Authorization", fmt.Sprintf("Bearer v%d", a.token))
	return nil
}

func (a *tokenAuth) Refresh(context.Context) error {
	a.refreshes.Add(1)
	time.Sleep(50 * time.Millisecond) // a slow token exchange: other 401s arrive meanwhile
	a.mu.Lock()
	a.token++
	a.mu.Unlock()
	return nil
}

func TestUnauthorizedRefreshesOnceForAllConcurrentCalls(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.Header.Get("Authorization") != "Bearer v1" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, "ok")
	}))
	defer ts.Close()
	a := &tokenAuth{}
	c := newClient(t, fastConfig, newGovernor(t), WithAuthorizer(a))
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			resp, err := c.Do(context.Background(), get(t, ts.URL), WithQuota("api"))
			if err != nil {
				t.Error(err)
				return
			}
			if got := readAll(t, resp); got != "ok" {
				t.Errorf("body %q", got)
			}
		})
	}
	wg.Wait()
	if n := a.refreshes.Load(); n != 1 {
		t.Errorf("%d refreshes, want 1", n)
	}
	if hits.Load() != 20 {
		t.Errorf("%d requests, want 20 (each call: one 401, one retry)", hits.Load())
	}
}

func TestUnauthorizedAfterRefreshIsReturned(t *testing.T) {
	t.Parallel()
	srv := &scripted{script: []func(http.ResponseWriter){status(401)}}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	a := &tokenAuth{}
	c := newClient(t, fastConfig, newGovernor(t), WithAuthorizer(a))
	_, err := c.Do(context.Background(), get(t, ts.URL), WithQuota("api"))
	var se *StatusError
	if !errors.As(err, &se) || se.StatusCode != 401 {
		t.Fatalf("err = %v, want 401", err)
	}
	if a.refreshes.Load() != 1 || srv.count() != 2 {
		t.Errorf("%d refreshes, %d requests; want 1, 2", a.refreshes.Load(), srv.count())
	}
}

// The concurrency slot is held while the caller streams the body: with a cap of one,
// the second call starts only when the first body is closed.
func TestStreamingHoldsTheSlotUntilClose(t *testing.T) {
	t.Parallel()
	// Counted by the server: a handler ends before its client can see the end of the body,
	// so an overlap here is two calls holding the host's one slot at once.
	var active, peak atomic.Int64
	release := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := active.Add(1)
		defer active.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		fmt.Fprint(w, "first chunk;")
		w.(http.Flusher).Flush()
		if r.URL.Path == "/slow" {
			<-release
		}
		fmt.Fprint(w, "last chunk")
	}))
	defer ts.Close()
	gov := newGovernor(t, func(c *ratelimit.Config) { c.HostConcurrency = 1 })
	c := newClient(t, fastConfig, gov)
	ctx := context.Background()

	resp, err := c.Do(ctx, get(t, ts.URL+"/slow"), WithQuota("api"))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len("first chunk;"))
	if _, err := io.ReadFull(resp.Body, buf); err != nil { // streamed: headers and a chunk, body not done
		t.Fatal(err)
	}
	second := make(chan string)
	go func() {
		r, err := c.Do(ctx, get(t, ts.URL+"/fast"), WithQuota("api"))
		if err != nil {
			t.Error(err)
			second <- ""
			return
		}
		second <- readAll(t, r)
	}()
	select {
	case <-second:
		t.Fatal("second call ran while the first body was open")
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	rest, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(rest) != "last chunk" {
		t.Errorf("rest %q", rest)
	}
	if got := <-second; got != "first chunk;last chunk" {
		t.Errorf("second body %q", got)
	}
	if peak.Load() != 1 {
		t.Errorf("%d calls at once on a host with one slot", peak.Load())
	}
}

func TestTelemetryUserAgentAndPropagation(t *testing.T) {
	t.Parallel()
	var gotUA, gotParent atomic.Value
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotUA.Store(r.Header.Get("User-Agent"))
		gotParent.Store(r.Header.Get("Traceparent"))
		fmt.Fprint(w, strings.Repeat("x", 1000))
	}))
	defer ts.Close()
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	c := newClient(t, fastConfig, newGovernor(t), WithTracerProvider(tp), WithMeterProvider(mp))

	resp, err := c.Do(context.Background(), get(t, ts.URL+"/v2/profiles?secret=1"), WithQuota("api"))
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)

	if ua := gotUA.Load().(string); ua != DefaultUserAgent {
		t.Errorf("User-Agent %q", ua)
	}
	ended := spans.Ended()
	if len(ended) != 1 {
		t.Fatalf("%d spans, want 1", len(ended))
	}
	s := ended[0]
	if parent := gotParent.Load().(string); !strings.Contains(parent, s.SpanContext().TraceID().String()) {
		t.Errorf("traceparent %q does not carry trace %s", parent, s.SpanContext().TraceID())
	}
	attrs := map[string]string{}
	for _, kv := range s.Attributes() {
		attrs[string(kv.Key)] = kv.Value.String()
	}
	if attrs["http.request.method"] != "GET" || attrs["http.response.status_code"] != "200" || attrs["server.address"] != "127.0.0.1" {
		t.Errorf("span attributes %v", attrs)
	}
	if strings.Contains(attrs["url.full"], "secret") {
		t.Errorf("url.full leaks the query: %s", attrs["url.full"])
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	sums := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if d, ok := m.Data.(metricdata.Sum[int64]); ok {
				for _, p := range d.DataPoints {
					sums[m.Name] += p.Value
				}
			}
		}
	}
	if sums["sluice.apiclient.requests"] != 1 || sums["sluice.apiclient.received"] != 1000 {
		t.Errorf("metrics %v", sums)
	}
}

func TestContextCancelStopsRetries(t *testing.T) {
	t.Parallel()
	srv := &scripted{script: []func(http.ResponseWriter){status(503)}}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	c := newClient(t, Config{InitialBackoff: time.Second, MaxBackoff: time.Second}, newGovernor(t))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := c.Do(ctx, get(t, ts.URL), WithQuota("api"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
}

func TestNewRequiresGovernor(t *testing.T) {
	t.Parallel()
	if _, err := New(Config{}, nil); err == nil {
		t.Error("New without governor: nil error")
	}
	if _, err := New(Config{MaxAttempts: -1}, newGovernor(t)); err == nil || !strings.Contains(err.Error(), "MaxAttempts") {
		t.Errorf("invalid config: err = %v", err)
	}
}

// permitAuth records, at each Authorize, how many slots the governor had issued.
type permitAuth struct {
	gov    *ratelimit.Governor
	err    error
	mu     sync.Mutex
	issued []uint64
}

func (a *permitAuth) Authorize(ctx context.Context, req *http.Request) error {
	st, err := a.gov.Status(ctx, "api", "")
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.issued = append(a.issued, st.Issued)
	a.mu.Unlock()
	req.Header.Set("Authorization", "Bearer t")
	return a.err
}

func (a *permitAuth) Refresh(context.Context) error { return nil }

// Credentials are set before the wait, and again once the permit is granted after a
// long wait; an Authorize error ends the call without sending it.
func TestAuthorizeAroundThePermit(t *testing.T) {
	t.Parallel()
	srv := &scripted{script: []func(http.ResponseWriter){status(200)}}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	gov := newGovernor(t)
	a := &permitAuth{gov: gov}
	c := newClient(t, fastConfig, gov, WithAuthorizer(a))
	c.reauthorizeAfter = time.Hour
	resp, err := c.Do(context.Background(), get(t, ts.URL), WithQuota("api"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if len(a.issued) != 1 || a.issued[0] != 0 {
		t.Errorf("slots issued when authorizing: %v, want one call before the wait", a.issued)
	}

	c.reauthorizeAfter = 0 // every wait is long
	resp, err = c.Do(context.Background(), get(t, ts.URL), WithQuota("api"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if len(a.issued) != 3 || a.issued[2] <= a.issued[1] {
		t.Errorf("slots issued when authorizing: %v, want a second call after the permit", a.issued)
	}

	a.err = errors.New("no credentials")
	_, err = c.Do(context.Background(), get(t, ts.URL), WithQuota("api"))
	if !errors.Is(err, a.err) {
		t.Errorf("err = %v, want the Authorize error", err)
	}
	if srv.count() != 2 || len(a.issued) != 4 {
		t.Errorf("%d requests sent, %d authorizations; want 2, 4 (no retry of an Authorize error)", srv.count(), len(a.issued))
	}
}

// fetchAuth fetches its token through a governed client, with the context it is given,
// as a Login-with-Amazon style Authorizer does.
type fetchAuth struct {
	tokens *http.Client
	url    string
	mu     sync.Mutex
	token  string
}

func (a *fetchAuth) Authorize(ctx context.Context, req *http.Request) error {
	if !strings.HasSuffix(req.URL.Path, "/api") {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.token == "" {
		r, err := http.NewRequestWithContext(ctx, http.MethodPost, a.url+"/token", nil)
		if err != nil {
			return err
		}
		resp, err := a.tokens.Do(r)
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		a.token = string(b)
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	return nil
}

func (a *fetchAuth) Refresh(context.Context) error { return nil }

// An Authorize that fetches a token through the governed client gets a call of its
// own, not a recursive authorization of its token request.
func TestAuthorizeFetchesThroughTheGovernedClient(t *testing.T) {
	t.Parallel()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/token" {
			if r.Header.Get("Authorization") != "" {
				t.Errorf("token request authorized: %q", r.Header.Get("Authorization"))
			}
			fmt.Fprint(w, "t1")
			return
		}
		fmt.Fprint(w, r.Header.Get("Authorization"))
	}))
	defer ts.Close()
	gov := newGovernor(t)
	tokens := newClient(t, Config{Quota: "api"}, gov)
	a := &fetchAuth{tokens: tokens.HTTPClient(), url: ts.URL}
	c := newClient(t, fastConfig, gov, WithAuthorizer(a))
	c.reauthorizeAfter = 0
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := c.Do(ctx, get(t, ts.URL+"/api"), WithQuota("api"))
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, resp); got != "Bearer t1" {
		t.Errorf("authorization %q", got)
	}
}

// A slow reader is not a stalled server: only time spent inside Read counts.
func TestIdleTimeoutCountsOnlyReads(t *testing.T) {
	t.Parallel()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "abcdef")
	}))
	defer ts.Close()
	c := newClient(t, Config{IdleReadTimeout: 50 * time.Millisecond}, newGovernor(t))
	resp, err := c.Do(context.Background(), get(t, ts.URL))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got []byte
	buf := make([]byte, 2)
	for {
		n, err := resp.Body.Read(buf)
		got = append(got, buf[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		time.Sleep(120 * time.Millisecond) // the caller is slow, the server is not
	}
	if string(got) != "abcdef" {
		t.Errorf("body %q", got)
	}
}
