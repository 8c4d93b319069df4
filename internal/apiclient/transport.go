package apiclient

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/sluice-dev/sluice/internal/ratelimit"
	"github.com/sluice-dev/sluice/internal/redact"
)

// callKey carries the per-call options from Do to the transport through the request
// context, so that redirects followed by http.Client are governed like the first hop.
type callKey struct{}

// callOptions are the options of one Do call.
type callOptions struct {
	quota   string
	key     string
	host    string
	scope   ratelimit.Scope
	noRetry bool
	// untrusted: the URL came from a provider's answer, not its configuration.
	untrusted bool
	resend    int
	// auth, set by Do when the client has an Authorizer, asks the transport to
	// authorize the first hop again when its permit took long, and to report back.
	auth *attemptAuth
}

// attemptAuth is what the transport reports to Do about the credentials of one
// attempt: their generation (for the 401 refresh) or why they could not be set.
type attemptAuth struct {
	gen     uint64
	authErr error
}

func callOptionsFrom(ctx context.Context) callOptions {
	co, _ := ctx.Value(callKey{}).(callOptions)
	return co
}

// transport is the governed http.RoundTripper: every physical request, redirects
// included, holds a governor permit from before it is sent until its response body is
// closed, runs in a client span, and carries the W3C trace context.
type transport struct {
	c    *Client
	base http.RoundTripper
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	co := callOptionsFrom(ctx)
	if co.quota == "" {
		co.quota = t.c.cfg.Quota
	}
	if t.c.egress != nil {
		if err := t.c.egress.check(req, co.untrusted); err != nil {
			if req.Body != nil {
				req.Body.Close()
			}
			t.c.log.WarnContext(ctx, "request refused by the egress policy", "err", err)
			return nil, err
		}
	}
	host := co.host
	if host == "" {
		host = req.URL.Hostname()
	}
	permit, err := t.c.gov.Acquire(ctx, ratelimit.Request{Quota: co.quota, Key: co.key, Host: host})
	if err != nil {
		if req.Body != nil {
			req.Body.Close() // RoundTrip must close the body, even on errors
		}
		return nil, fmt.Errorf("rate governor: %w", err)
	}

	ctx, span := t.c.tracer.Start(ctx, req.Method,
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(requestAttrs(req, co.resend)...))
	span.SetAttributes(attribute.Float64("sluice.ratelimit.wait", permit.Waited().Seconds()))
	r := req.Clone(ctx)
	t.c.propagator.Inject(ctx, propagation.HeaderCarrier(r.Header))
	// Credentials go on the request Do made, not on redirects, which http.Client copies
	// them to (or not, across hosts) by its own rules.
	if co.auth != nil && req.Response == nil && permit.Waited() >= t.c.reauthorizeAfter {
		// A token request made by Authorize is a call of its own, not of this one's
		// options (quota, key, credentials).
		gen, err := t.c.auth.authorize(context.WithValue(ctx, callKey{}, callOptions{}), r)
		if err != nil {
			co.auth.authErr = err
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
			span.End()
			_ = permit.Release(ctx, ratelimit.Outcome{Kind: ratelimit.Failed})
			return nil, err
		}
		co.auth.gen = gen
	}

	began := time.Now()
	resp, err := t.base.RoundTrip(r)
	took := time.Since(began)
	if err != nil {
		err = redact.Error(err)
		et := errorType(err)
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		span.SetAttributes(semconv.ErrorTypeKey.String(et))
		span.End()
		t.c.metrics.record(ctx, req, 0, et, took)
		_ = permit.Release(ctx, ratelimit.Outcome{Kind: ratelimit.Failed})
		return nil, err
	}

	span.SetAttributes(semconv.HTTPResponseStatusCode(resp.StatusCode))
	outcome := ratelimit.Outcome{Kind: ratelimit.Success, Scope: co.scope}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		ra, _ := parseRetryAfter(resp.Header, time.Now())
		outcome = ratelimit.Outcome{Kind: ratelimit.Throttled, RetryAfter: ra, Scope: co.scope}
	case resp.StatusCode >= 500:
		outcome.Kind = ratelimit.Failed
	}
	if resp.StatusCode >= 400 {
		span.SetAttributes(semconv.ErrorTypeKey.String(fmt.Sprint(resp.StatusCode)))
	}
	if resp.StatusCode >= 500 {
		span.SetStatus(codes.Error, resp.Status)
	}
	t.c.metrics.record(ctx, req, resp.StatusCode, "", took)

	if outcome.Kind == ratelimit.Throttled {
		// Tell the governor now: the pause must reach the other callers before the
		// caller gets around to closing this body.
		_ = permit.Release(ctx, outcome)
		permit = nil
	}
	b := &body{rc: resp.Body, idle: t.c.cfg.IdleReadTimeout, finish: func(n int64) {
		if n > 0 {
			t.c.metrics.received.Add(ctx, n, metricServer(req))
		}
		if permit != nil {
			_ = permit.Release(ctx, outcome)
		}
		span.End()
	}}
	b.stalled = func(n int64) error {
		err := &IdleTimeoutError{Method: req.Method, URL: redactedURL(req), Host: req.URL.Host, Idle: b.idle, Received: n}
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		t.c.log.WarnContext(ctx, "response body stalled; closing it", "method", req.Method, "url", err.URL, "idle", b.idle, "received", n)
		return err
	}
	if b.idle > 0 {
		b.timer = time.AfterFunc(b.idle, b.stall)
		b.timer.Stop() // armed by each Read
	}
	resp.Body = b
	return resp, nil
}

// body streams a response body and finishes the request (permit, span, byte count)
// when it is closed or read to the end. It never buffers. A Read that waits longer than
// idle for a byte closes the body, which aborts the read and finishes the request at once,
// so a stalled server cannot hold the concurrency slot.
type body struct {
	rc     io.ReadCloser
	n      atomic.Int64 // Close may run concurrently with Read, to abort it
	once   sync.Once
	finish func(n int64)

	idle    time.Duration
	stalled func(n int64) error // builds the error of a stall
	timer   *time.Timer         // set when idle > 0; armed only while a Read waits
	err     atomic.Pointer[error]
}

func (b *body) Read(p []byte) (int, error) {
	if e := b.err.Load(); e != nil {
		return 0, *e
	}
	if b.idle > 0 {
		// Only a Read in progress is timed: time the caller spends between reads (for
		// example uploading what it read) is not the server's stall.
		b.timer.Reset(b.idle)
	}
	n, err := b.rc.Read(p)
	if b.timer != nil {
		b.timer.Stop()
	}
	b.n.Add(int64(n))
	if err != nil {
		if e := b.err.Load(); e != nil {
			return n, *e
		}
	}
	if err == io.EOF {
		b.done()
	}
	return n, err
}

// stall runs when a Read waited idle for a byte: it records the error that Read returns,
// then closes the body, which unblocks the Read and releases the permit.
func (b *body) stall() {
	err := b.stalled(b.n.Load())
	if !b.err.CompareAndSwap(nil, &err) {
		return
	}
	_ = b.rc.Close()
	b.done()
}

func (b *body) Close() error {
	if b.timer != nil {
		b.timer.Stop()
	}
	err := b.rc.Close()
	b.done()
	if b.err.Load() != nil {
		return nil // closed by the stall already; Read reported it
	}
	return err
}

func (b *body) done() { b.once.Do(func() { b.finish(b.n.Load()) }) }
