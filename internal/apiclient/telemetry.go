package apiclient

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"

	"github.com/sluice-dev/sluice/internal/redact"
)

const instrumentationName = "github.com/sluice-dev/sluice/internal/apiclient"

// instruments are the client's metrics. Attributes are bounded: method, status code,
// server address (one per provider host), error type.
type instruments struct {
	duration  metric.Float64Histogram
	requests  metric.Int64Counter
	throttled metric.Int64Counter
	received  metric.Int64Counter
	retries   metric.Int64Counter
}

func newInstruments(m metric.Meter) (*instruments, error) {
	var (
		in   instruments
		err  error
		errs []error
	)
	in.duration, err = m.Float64Histogram("http.client.request.duration",
		metric.WithDescription("Duration of HTTP client requests (until response headers)."), metric.WithUnit("s"))
	errs = append(errs, err)
	in.requests, err = m.Int64Counter("sluice.apiclient.requests",
		metric.WithDescription("HTTP requests sent, by response status code or error type."), metric.WithUnit("{request}"))
	errs = append(errs, err)
	in.throttled, err = m.Int64Counter("sluice.apiclient.throttled",
		metric.WithDescription("HTTP 429 responses."), metric.WithUnit("{response}"))
	errs = append(errs, err)
	in.received, err = m.Int64Counter("sluice.apiclient.received",
		metric.WithDescription("Response body bytes read by callers."), metric.WithUnit("By"))
	errs = append(errs, err)
	in.retries, err = m.Int64Counter("sluice.apiclient.retries",
		metric.WithDescription("Retries, by reason."), metric.WithUnit("{retry}"))
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("create apiclient instruments: %w", err)
	}
	return &in, nil
}

// requestAttrs are the semantic-convention attributes of a request known before it is
// sent.
func requestAttrs(req *http.Request, resend int) []attribute.KeyValue {
	attrs := []attribute.KeyValue{
		semconv.HTTPRequestMethodKey.String(req.Method),
		semconv.URLFull(redactedURL(req)),
		semconv.ServerAddress(req.URL.Hostname()),
	}
	if p := port(req); p > 0 {
		attrs = append(attrs, semconv.ServerPort(p))
	}
	if resend > 0 {
		attrs = append(attrs, semconv.HTTPRequestResendCount(resend))
	}
	if ua := req.Header.Get("User-Agent"); ua != "" {
		attrs = append(attrs, semconv.UserAgentOriginal(ua))
	}
	return attrs
}

func (in *instruments) record(ctx context.Context, req *http.Request, status int, errType string, took time.Duration) {
	attrs := []attribute.KeyValue{
		semconv.HTTPRequestMethodKey.String(req.Method),
		semconv.ServerAddress(req.URL.Hostname()),
	}
	if status > 0 {
		attrs = append(attrs, semconv.HTTPResponseStatusCode(status))
	}
	if errType != "" {
		attrs = append(attrs, semconv.ErrorTypeKey.String(errType))
	}
	set := metric.WithAttributes(attrs...)
	in.duration.Record(ctx, took.Seconds(), set)
	in.requests.Add(ctx, 1, set)
	if status == http.StatusTooManyRequests {
		in.throttled.Add(ctx, 1, metric.WithAttributes(semconv.ServerAddress(req.URL.Hostname())))
	}
}

// errorType names an error for the error.type attribute, with bounded cardinality.
func errorType(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline_exceeded"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return "net." + oe.Op
	}
	return "_OTHER"
}

func port(req *http.Request) int {
	if p := req.URL.Port(); p != "" {
		n, _ := strconv.Atoi(p)
		return n
	}
	switch req.URL.Scheme {
	case "https":
		return 443
	case "http":
		return 80
	}
	return 0
}

// redactedURL is the request URL without user info and query (pre-signed URLs carry
// credentials in the query).
func redactedURL(req *http.Request) string { return redact.URL(req.URL) }

func metricServer(req *http.Request) metric.AddOption {
	return metric.WithAttributes(semconv.ServerAddress(req.URL.Hostname()))
}

func metricReason(reason string) metric.AddOption {
	return metric.WithAttributes(attribute.String("reason", reason))
}
