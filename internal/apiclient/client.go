package apiclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/cenkalti/backoff/v4"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/sluice-dev/sluice/internal/ratelimit"
	"github.com/sluice-dev/sluice/internal/redact"
)

// reauthorizeAfter: a call that waited this long for its permit is authorized again
// before it is sent, so credentials set before the wait cannot have expired. Shorter
// waits keep them: an Authorizer that fetches a token blocks its callers meanwhile, and
// callers blocked while holding permits would burst when the token arrives.
const reauthorizeAfter = time.Second

// drainLimit is how much of a body is read before closing it on a retry, so that the
// connection can be reused; larger bodies are just closed.
const drainLimit = 64 << 10

// Client is the rate-governed HTTP client. Every request it sends, retries and
// redirects included, first acquires a permit from the governor and gives it back when
// the response body is closed. It is safe for concurrent use.
type Client struct {
	cfg        Config
	gov        *ratelimit.Governor
	http       *http.Client
	auth       *auth
	tracer     trace.Tracer
	propagator propagation.TextMapPropagator
	metrics    *instruments
	log        *slog.Logger
	egress     *Egress
	// reauthorizeAfter is the wait for a permit after which a call is authorized again.
	reauthorizeAfter time.Duration
}

// Option configures a Client.
type Option func(*options)

type options struct {
	transport  http.RoundTripper
	auth       Authorizer
	tracer     trace.TracerProvider
	meter      metric.MeterProvider
	propagator propagation.TextMapPropagator
	jar        http.CookieJar
	log        *slog.Logger
	egress     *Egress
}

// WithTransport sets the transport under the governor (default: a clone of
// http.DefaultTransport with Config.ResponseHeaderTimeout).
func WithTransport(rt http.RoundTripper) Option { return func(o *options) { o.transport = rt } }

// WithAuthorizer sets the credentials hook.
func WithAuthorizer(a Authorizer) Option { return func(o *options) { o.auth = a } }

// WithTracerProvider sets the tracer provider (default: the global one).
func WithTracerProvider(tp trace.TracerProvider) Option { return func(o *options) { o.tracer = tp } }

// WithMeterProvider sets the meter provider (default: the global one).
func WithMeterProvider(mp metric.MeterProvider) Option { return func(o *options) { o.meter = mp } }

// WithPropagator sets the propagator that writes trace context into request headers
// (default: W3C trace context and baggage).
func WithPropagator(p propagation.TextMapPropagator) Option {
	return func(o *options) { o.propagator = p }
}

// WithCookieJar keeps cookies between requests (for session logins).
func WithCookieJar(j http.CookieJar) Option { return func(o *options) { o.jar = j } }

// WithEgress restricts where requests may go (see Egress); without it any URL is fetched.
// The default transport then also checks the address every connection dials.
func WithEgress(e Egress) Option { return func(o *options) { o.egress = &e } }

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// New returns a client whose requests are governed by gov.
func New(cfg Config, gov *ratelimit.Governor, opts ...Option) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("apiclient config: %w", err)
	}
	if gov == nil {
		return nil, errors.New("apiclient: a rate governor is required")
	}
	cfg = cfg.WithDefaults()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if o.transport == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.ResponseHeaderTimeout = cfg.ResponseHeaderTimeout
		// Governed calls go mostly to a few hosts: keep their connections, so a call sent
		// on its slot does not wait for a dial (the default keeps 2 idle per host).
		t.MaxIdleConnsPerHost = 64
		if o.egress != nil {
			o.egress.guardedTransport(t)
		}
		o.transport = t
	}
	if o.tracer == nil {
		o.tracer = otel.GetTracerProvider()
	}
	if o.meter == nil {
		o.meter = otel.GetMeterProvider()
	}
	if o.propagator == nil {
		o.propagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	if o.egress != nil {
		if err := o.egress.Validate(); err != nil {
			return nil, fmt.Errorf("apiclient egress: %w", err)
		}
	}
	in, err := newInstruments(o.meter.Meter(instrumentationName))
	if err != nil {
		return nil, err
	}
	c := &Client{
		cfg: cfg, gov: gov,
		tracer:     o.tracer.Tracer(instrumentationName),
		propagator: o.propagator,
		metrics:    in,
		log:        o.log.With("component", "apiclient"),
		egress:     o.egress,

		reauthorizeAfter: reauthorizeAfter,
	}
	if o.auth != nil {
		c.auth = &auth{a: o.auth}
	}
	c.http = &http.Client{Transport: &transport{c: c, base: o.transport}, Jar: o.jar}
	return c, nil
}

// CallOption configures one Do call.
type CallOption func(*callOptions)

// WithQuota draws the call from the named governor quota instead of Config.Quota.
func WithQuota(quota string) CallOption { return func(o *callOptions) { o.quota = quota } }

// WithKey draws the call also from the per-key limit of key (for example a profile id).
func WithKey(key string) CallOption { return func(o *callOptions) { o.key = key } }

// WithHost names the concurrency group of the call (default: the URL's host name).
func WithHost(host string) CallOption { return func(o *callOptions) { o.host = host } }

// WithThrottleScope says which limit a 429 of this call is charged to (default
// ratelimit.ScopeAuto: the quota and the per-key limit, if any).
func WithThrottleScope(s ratelimit.Scope) CallOption { return func(o *callOptions) { o.scope = s } }

// Untrusted marks a call whose URL the provider's API handed out (a report download):
// with an Egress policy, its host must be on Egress.Hosts.
func Untrusted() CallOption { return func(o *callOptions) { o.untrusted = true } }

// WithoutRetry makes a single attempt (the 401 refresh still applies).
func WithoutRetry() CallOption { return func(o *callOptions) { o.noRetry = true } }

// Do sends req under the governor and returns the response of the first attempt that
// is not retried. The caller must close the response body; the permit (and its
// concurrency slot) is held until then, and the body streams, never buffered.
//
// Retried, with the same request (bodies replayed with GetBody): 429 after its
// Retry-After (seconds or HTTP date) or, without one, after a jittered exponential
// backoff, both also reported to the governor so that every replica slows down; 408,
// 5xx (but 501, 505, 511), timeouts and connection errors after a jittered exponential
// backoff; until Config.MaxAttempts or Config.MaxElapsed. A 401 makes the Authorizer
// refresh the credentials once for all concurrent calls, then the call is retried once.
// Any other status of 400 and above returns a *StatusError with the start of the body.
// If ctx ends, Do returns its error.
func (c *Client) Do(ctx context.Context, req *http.Request, opts ...CallOption) (*http.Response, error) {
	var co callOptions
	for _, opt := range opts {
		opt(&co)
	}
	bo := c.cfg.newBackoff()
	began := time.Now()
	refreshed := false
	var lastErr error
	for attempt := 1; ; attempt++ {
		co.resend = attempt - 1
		// The transport authorizes the request again when its permit took long, so
		// that credentials are fresh however long it waited, and reports back here.
		att := &attemptAuth{}
		if c.auth != nil {
			co.auth = att
		}
		r := req.Clone(context.WithValue(ctx, callKey{}, co))
		if attempt > 1 && req.Body != nil && req.Body != http.NoBody {
			if req.GetBody == nil {
				return nil, fmt.Errorf("%s %s: %w: %w", req.Method, redactedURL(req), ErrNotReplayable, lastErr)
			}
			b, err := req.GetBody()
			if err != nil {
				return nil, fmt.Errorf("%s %s: replay body: %w", req.Method, redactedURL(req), err)
			}
			r.Body = b
		}
		if r.Header.Get("User-Agent") == "" {
			r.Header.Set("User-Agent", c.cfg.UserAgent)
		}
		if c.auth != nil {
			// Credentials are set before the wait for the permit: a token fetch while
			// holding permits would let their slots pass and then send those calls in
			// one burst. The transport sets them again after a long wait.
			g, err := c.auth.authorize(ctx, r)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", req.Method, redactedURL(req), err)
			}
			att.gen = g
		}
		resp, err := c.http.Do(r)
		// net/http quotes the whole URL (a pre-signed signature) in its errors.
		err = redact.Error(err)
		gen := att.gen
		var wait time.Duration
		switch {
		case att.authErr != nil:
			if resp != nil {
				resp.Body.Close()
			}
			return nil, fmt.Errorf("%s %s: %w", req.Method, redactedURL(req), att.authErr)
		case err != nil:
			if ctx.Err() != nil {
				return nil, fmt.Errorf("%s %s: %w", req.Method, redactedURL(req), ctx.Err())
			}
			if !retryableError(ctx, err) {
				return nil, err
			}
			lastErr = err
			wait = bo.NextBackOff()
			c.metrics.retries.Add(ctx, 1, metricReason("error"))

		case resp.StatusCode == http.StatusUnauthorized && c.auth != nil && !refreshed:
			discard(resp.Body)
			if err := c.auth.refresh(ctx, gen); err != nil {
				return nil, fmt.Errorf("%s %s: 401: %w", req.Method, redactedURL(req), err)
			}
			refreshed = true
			c.metrics.retries.Add(ctx, 1, metricReason("unauthorized"))
			continue

		case resp.StatusCode == http.StatusTooManyRequests:
			ra, ok := parseRetryAfter(resp.Header, time.Now())
			lastErr = c.statusError(req, resp, attempt, ra, false)
			if ok && ra > c.cfg.MaxRetryAfter {
				return nil, lastErr
			}
			wait = ra
			if !ok {
				wait = bo.NextBackOff()
			}
			c.metrics.retries.Add(ctx, 1, metricReason("throttled"))

		case retryableStatus(resp.StatusCode):
			ra, _ := parseRetryAfter(resp.Header, time.Now())
			lastErr = c.statusError(req, resp, attempt, ra, false)
			wait = bo.NextBackOff()
			if ra > wait && ra <= c.cfg.MaxRetryAfter {
				wait = ra
			}
			c.metrics.retries.Add(ctx, 1, metricReason("server"))

		case resp.StatusCode >= 400:
			return nil, c.statusError(req, resp, attempt, 0, true)

		default:
			return resp, nil
		}

		if co.noRetry || attempt >= c.cfg.MaxAttempts || wait == backoff.Stop || time.Since(began)+wait > c.cfg.MaxElapsed {
			return nil, lastErr
		}
		c.log.DebugContext(ctx, "retry", "method", req.Method, "url", redactedURL(req), "attempt", attempt, "wait", wait, "err", lastErr)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%s %s: %w (last: %w)", req.Method, redactedURL(req), ctx.Err(), lastErr)
		}
	}
}

// HTTPClient returns an *http.Client for libraries that need one: each request it sends
// is governed (permit, span, metrics) under Config.Quota, without Do's retries and
// credential hook.
func (c *Client) HTTPClient() *http.Client {
	h := *c.http
	return &h
}

// statusError closes resp after reading the start of its body into a StatusError.
func (c *Client) statusError(req *http.Request, resp *http.Response, attempts int, ra time.Duration, final bool) *StatusError {
	excerpt, _ := io.ReadAll(io.LimitReader(resp.Body, int64(c.cfg.ErrorBodyLimit)))
	if final {
		resp.Body.Close()
	} else {
		discard(resp.Body)
	}
	return &StatusError{
		Method: req.Method, URL: redactedURL(req),
		StatusCode: resp.StatusCode, Status: resp.Status, Header: resp.Header.Clone(),
		Body: excerpt, Attempts: attempts, RetryAfter: ra,
	}
}

// discard drains a little of a body, so the connection can be reused, and closes it.
func discard(rc io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(rc, drainLimit))
	_ = rc.Close()
}
