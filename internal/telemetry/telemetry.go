// Package telemetry sets up OpenTelemetry for a sluice service: a tracer provider exporting
// over OTLP gRPC, a meter provider exported for Prometheus, W3C trace-context propagation
// (also through NATS headers) and a slog handler that stamps trace ids on log lines.
package telemetry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/credentials"
)

// Config says where telemetry goes.
type Config struct {
	// ServiceName becomes service.name, the name a trace shows in Jaeger.
	ServiceName string
	// ServiceInstance distinguishes replicas (e.g. the pod name); optional.
	ServiceInstance string
	// OTLPEndpoint is host:port of an OTLP gRPC receiver; empty disables trace export.
	OTLPEndpoint string
	// SampleRatio is the fraction of new traces sampled (parent-based), 0 < r <= 1.
	SampleRatio float64
	// OTLPTLS secures the export: TLS is used unless Insecure is set or the endpoint is on
	// loopback without a CA or client certificate configured (a sidecar collector).
	OTLPTLS TLS
}

// TLS is the transport security of the OTLP export.
type TLS struct {
	// Insecure sends spans in plain text (a collector on a trusted network only).
	Insecure bool
	// CAFile verifies the collector (empty: the system's roots); CertFile and KeyFile are
	// the client certificate when the collector asks for one.
	CAFile, CertFile, KeyFile string
}

// plaintext reports whether the export goes without TLS.
func (t TLS) plaintext(endpoint string) bool {
	if t.Insecure {
		return true
	}
	if t.CAFile != "" || t.CertFile != "" {
		return false
	}
	host, _, err := net.SplitHostPort(endpoint)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// config builds the client TLS configuration.
func (t TLS) config() (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("otlp CA: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("otlp CA %s: no PEM certificate", t.CAFile)
		}
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("otlp client certificate: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// Validate reports the first field that is wrong.
func (c Config) Validate() error {
	if c.ServiceName == "" {
		return errors.New("telemetry: service name is empty")
	}
	if c.SampleRatio <= 0 || c.SampleRatio > 1 {
		return fmt.Errorf("telemetry: sample ratio %v: must be in (0, 1]", c.SampleRatio)
	}
	return nil
}

// Telemetry owns the providers of one service.
type Telemetry struct {
	Tracer   trace.Tracer
	Meter    metric.Meter
	tp       *sdktrace.TracerProvider
	mp       *sdkmetric.MeterProvider
	registry *prometheus.Registry
}

// Setup builds the providers and installs them as the OpenTelemetry globals, so that
// instrumented libraries pick them up. Call Shutdown to flush spans before exiting.
func Setup(ctx context.Context, cfg Config) (*Telemetry, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	attrs := []attribute.KeyValue{semconv.ServiceName(cfg.ServiceName)}
	if cfg.ServiceInstance != "" {
		attrs = append(attrs, semconv.ServiceInstanceID(cfg.ServiceInstance))
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(attrs...))
	if err != nil {
		return nil, fmt.Errorf("telemetry resource: %w", err)
	}

	tpOpts := []sdktrace.TracerProviderOption{
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.SampleRatio))),
	}
	if cfg.OTLPEndpoint != "" {
		opts := []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(cfg.OTLPEndpoint)}
		if cfg.OTLPTLS.plaintext(cfg.OTLPEndpoint) {
			opts = append(opts, otlptracegrpc.WithInsecure())
		} else {
			tc, err := cfg.OTLPTLS.config()
			if err != nil {
				return nil, err
			}
			opts = append(opts, otlptracegrpc.WithTLSCredentials(credentials.NewTLS(tc)))
		}
		exp, err := otlptracegrpc.New(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("otlp exporter %s: %w", cfg.OTLPEndpoint, err)
		}
		tpOpts = append(tpOpts, sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(500*time.Millisecond)))
	}
	tp := sdktrace.NewTracerProvider(tpOpts...)

	registry := prometheus.NewRegistry()
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// service.name becomes a label of every metric (service_name="extractor-amazonads"), so
	// dashboards and alerts can tell providers apart however Prometheus scrapes the pods.
	promExp, err := otelprom.New(otelprom.WithRegisterer(registry),
		otelprom.WithResourceAsConstantLabels(attribute.NewAllowKeysFilter(semconv.ServiceNameKey)))
	if err != nil {
		return nil, fmt.Errorf("prometheus exporter: %w", err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithResource(res), sdkmetric.WithReader(promExp))

	otel.SetTracerProvider(tp)
	otel.SetMeterProvider(mp)
	otel.SetTextMapPropagator(Propagator())

	return &Telemetry{
		Tracer:   tp.Tracer("github.com/sluice-dev/sluice/" + cfg.ServiceName),
		Meter:    mp.Meter("github.com/sluice-dev/sluice/" + cfg.ServiceName),
		tp:       tp,
		mp:       mp,
		registry: registry,
	}, nil
}

// MetricsHandler serves the service's metrics in the Prometheus text format.
func (t *Telemetry) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(t.registry, promhttp.HandlerOpts{})
}

// Shutdown flushes pending spans and stops the providers.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	return errors.Join(t.tp.Shutdown(ctx), t.mp.Shutdown(ctx))
}

// Propagator is the W3C trace-context and baggage propagator every service uses.
func Propagator() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
}
