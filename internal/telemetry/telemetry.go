// Package telemetry sets up OpenTelemetry for a sluice service: a tracer provider exporting
// over OTLP gRPC, a meter provider exported for Prometheus, W3C trace-context propagation
// (also through NATS headers) and a slog handler that stamps trace ids on log lines.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
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
		exp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(cfg.OTLPEndpoint), otlptracegrpc.WithInsecure())
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
