package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"
)

// Service is the configuration every sluice service shares.
type Service struct {
	NATS     NATS
	HTTPAddr string
	// MetricsAddr serves /metrics on a listener of its own ("": on HTTPAddr); PprofAddr
	// serves Go profiles, on loopback only ("": off).
	MetricsAddr, PprofAddr string
	OTLPEndpoint           string
	// OTLPInsecure, OTLPCAFile, OTLPCertFile and OTLPKeyFile secure the trace export.
	OTLPInsecure                          bool
	OTLPCAFile, OTLPCertFile, OTLPKeyFile string
	SampleRatio                           float64
	LogLevel                              string
	LogFormat                             string
	ShutdownTimeout                       time.Duration
	Instance                              string
	// StreamReplicas is the replication of streams and buckets a service creates when they
	// are missing (existing ones are left as `sluice provision` made them).
	StreamReplicas int
}

// Register defines the shared flags.
func (s *Service) Register(fs *FlagSet) {
	s.NATS.Register(fs)
	fs.StringVar(&s.HTTPAddr, "http-addr", "SLUICE_HTTP_ADDR", ":8080", "listen address of /healthz and /readyz (and /metrics without --metrics-addr)")
	fs.StringVar(&s.MetricsAddr, "metrics-addr", "SLUICE_METRICS_ADDR", "", "listen address of /metrics, apart from the health probes (empty: on --http-addr)")
	fs.StringVar(&s.PprofAddr, "pprof-addr", "SLUICE_PPROF_ADDR", "", "loopback address serving Go profiles under /debug/pprof/, e.g. 127.0.0.1:6060 (empty: off)")
	fs.StringVar(&s.OTLPEndpoint, "otlp-endpoint", "SLUICE_OTLP_ENDPOINT", "", "OTLP gRPC host:port for traces; empty disables export")
	fs.BoolVar(&s.OTLPInsecure, "otlp-insecure", "SLUICE_OTLP_INSECURE", false, "export traces without TLS (default: TLS, except to a collector on loopback)")
	fs.StringVar(&s.OTLPCAFile, "otlp-tls-ca", "SLUICE_OTLP_TLS_CA", "", "CA certificate (PEM) that verifies the OTLP collector (default: the system's roots)")
	fs.StringVar(&s.OTLPCertFile, "otlp-tls-cert", "SLUICE_OTLP_TLS_CERT", "", "client certificate (PEM) for the OTLP collector")
	fs.StringVar(&s.OTLPKeyFile, "otlp-tls-key", "SLUICE_OTLP_TLS_KEY", "", "client key (PEM) of --otlp-tls-cert")
	fs.Float64Var(&s.SampleRatio, "trace-sample-ratio", "SLUICE_TRACE_SAMPLE_RATIO", 1, "fraction of new traces sampled, in (0, 1]")
	fs.StringVar(&s.LogLevel, "log-level", "SLUICE_LOG_LEVEL", "info", "debug, info, warn or error")
	fs.StringVar(&s.LogFormat, "log-format", "SLUICE_LOG_FORMAT", "json", "json or text")
	fs.DurationVar(&s.ShutdownTimeout, "shutdown-timeout", "SLUICE_SHUTDOWN_TIMEOUT", 25*time.Second, "time allowed to finish in-flight work after SIGTERM")
	fs.StringVar(&s.Instance, "instance", "HOSTNAME", "", "replica name reported in telemetry (the pod name on Kubernetes)")
	fs.IntVar(&s.StreamReplicas, "stream-replicas", "SLUICE_STREAM_REPLICAS", 1, "replicas of streams and buckets created when missing: 3 on a 3-node NATS cluster")
}

// Validate names every wrong field at once.
func (s Service) Validate() error {
	var errs []error
	if err := s.NATS.Validate(); err != nil {
		errs = append(errs, err)
	}
	if _, _, err := net.SplitHostPort(s.HTTPAddr); err != nil {
		errs = append(errs, fmt.Errorf("--http-addr / SLUICE_HTTP_ADDR %q: want host:port, e.g. :8080", s.HTTPAddr))
	}
	if s.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(s.MetricsAddr); err != nil {
			errs = append(errs, fmt.Errorf("--metrics-addr / SLUICE_METRICS_ADDR %q: want host:port, e.g. :9090", s.MetricsAddr))
		}
	}
	if s.PprofAddr != "" {
		if err := validateLoopback(s.PprofAddr); err != nil {
			errs = append(errs, fmt.Errorf("--pprof-addr / SLUICE_PPROF_ADDR: %w", err))
		}
	}
	if s.OTLPEndpoint != "" {
		if _, _, err := net.SplitHostPort(s.OTLPEndpoint); err != nil || strings.Contains(s.OTLPEndpoint, "://") {
			errs = append(errs, fmt.Errorf("--otlp-endpoint / SLUICE_OTLP_ENDPOINT %q: want host:port of an OTLP gRPC receiver, e.g. jaeger:4317", s.OTLPEndpoint))
		}
	}
	if (s.OTLPCertFile == "") != (s.OTLPKeyFile == "") {
		errs = append(errs, errors.New("--otlp-tls-cert and --otlp-tls-key must be set together"))
	}
	if s.SampleRatio <= 0 || s.SampleRatio > 1 {
		errs = append(errs, fmt.Errorf("--trace-sample-ratio / SLUICE_TRACE_SAMPLE_RATIO %v: must be in (0, 1]", s.SampleRatio))
	}
	if _, err := ParseLevel(s.LogLevel); err != nil {
		errs = append(errs, fmt.Errorf("--log-level / SLUICE_LOG_LEVEL: %w", err))
	}
	if s.LogFormat != "json" && s.LogFormat != "text" {
		errs = append(errs, fmt.Errorf("--log-format / SLUICE_LOG_FORMAT %q: want json or text", s.LogFormat))
	}
	if s.StreamReplicas < 1 || s.StreamReplicas > 5 {
		errs = append(errs, fmt.Errorf("--stream-replicas / SLUICE_STREAM_REPLICAS %d: must be 1..5", s.StreamReplicas))
	}
	if s.ShutdownTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--shutdown-timeout / SLUICE_SHUTDOWN_TIMEOUT %v: must be positive", s.ShutdownTimeout))
	}
	return errors.Join(errs...)
}

// ParseLevel turns debug, info, warn or error into a slog level.
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("%q: want debug, info, warn or error", s)
	}
	return l, nil
}

// validateLoopback checks that addr (host:port) is on loopback only.
func validateLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q: want host:port, e.g. 127.0.0.1:6060", addr)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%q: profiles are served on loopback only (127.0.0.1, [::1] or localhost)", addr)
	}
	return nil
}
