package config

import (
	"io"
	"strings"
	"testing"
	"time"
)

func parse(t *testing.T, args []string, env map[string]string) (Service, error) {
	t.Helper()
	var s Service
	fs := NewFlagSet("test", func(k string) string { return env[k] }, io.Discard)
	s.Register(fs)
	err := fs.Parse(args)
	return s, err
}

func TestPrecedenceFlagOverEnvOverDefault(t *testing.T) {
	t.Parallel()
	s, err := parse(t, nil, nil)
	if err != nil || s.HTTPAddr != ":8080" {
		t.Fatalf("default: %q %v", s.HTTPAddr, err)
	}
	s, err = parse(t, nil, map[string]string{"SLUICE_HTTP_ADDR": ":9090"})
	if err != nil || s.HTTPAddr != ":9090" {
		t.Fatalf("env: %q %v", s.HTTPAddr, err)
	}
	s, err = parse(t, []string{"--http-addr", ":7070"}, map[string]string{"SLUICE_HTTP_ADDR": ":9090"})
	if err != nil || s.HTTPAddr != ":7070" {
		t.Fatalf("flag: %q %v", s.HTTPAddr, err)
	}
}

func TestMalformedEnvNamesTheVariable(t *testing.T) {
	t.Parallel()
	_, err := parse(t, nil, map[string]string{"SLUICE_SHUTDOWN_TIMEOUT": "soon"})
	if err == nil || !strings.Contains(err.Error(), "SLUICE_SHUTDOWN_TIMEOUT") {
		t.Fatalf("want an error naming SLUICE_SHUTDOWN_TIMEOUT, got %v", err)
	}
}

func TestServiceValidate(t *testing.T) {
	t.Parallel()
	ok := Service{NATS: NATS{URL: "nats://127.0.0.1:4222"}, HTTPAddr: ":8080", SampleRatio: 1, LogLevel: "info", LogFormat: "json", ShutdownTimeout: time.Second, StreamReplicas: 1}
	cases := []struct {
		name    string
		mutate  func(*Service)
		wantErr string
	}{
		{"valid", func(*Service) {}, ""},
		{"valid cluster url and otlp", func(s *Service) { s.NATS.URL = "nats://a:4222,tls://b:4222"; s.OTLPEndpoint = "jaeger:4317" }, ""},
		{"http scheme for nats", func(s *Service) { s.NATS.URL = "http://127.0.0.1:4222" }, "SLUICE_NATS_URL"},
		{"empty nats", func(s *Service) { s.NATS.URL = "" }, "SLUICE_NATS_URL"},
		{"bad http addr", func(s *Service) { s.HTTPAddr = "8080" }, "SLUICE_HTTP_ADDR"},
		{"otlp with scheme", func(s *Service) { s.OTLPEndpoint = "http://jaeger:4317" }, "SLUICE_OTLP_ENDPOINT"},
		{"sample ratio zero", func(s *Service) { s.SampleRatio = 0 }, "SLUICE_TRACE_SAMPLE_RATIO"},
		{"unknown level", func(s *Service) { s.LogLevel = "loud" }, "SLUICE_LOG_LEVEL"},
		{"unknown format", func(s *Service) { s.LogFormat = "xml" }, "SLUICE_LOG_FORMAT"},
		{"zero shutdown", func(s *Service) { s.ShutdownTimeout = 0 }, "SLUICE_SHUTDOWN_TIMEOUT"},
		{"pprof on loopback", func(s *Service) { s.PprofAddr = "127.0.0.1:6060" }, ""},
		{"pprof on every interface", func(s *Service) { s.PprofAddr = ":6060" }, "SLUICE_PPROF_ADDR"},
		{"pprof on a pod address", func(s *Service) { s.PprofAddr = "10.1.2.3:6060" }, "loopback only"},
		{"metrics apart", func(s *Service) { s.MetricsAddr = ":9090" }, ""},
		{"bad metrics addr", func(s *Service) { s.MetricsAddr = "9090" }, "SLUICE_METRICS_ADDR"},
		{"otlp cert without key", func(s *Service) { s.OTLPCertFile = "c.pem" }, "--otlp-tls-key"},
		{"no stream replicas", func(s *Service) { s.StreamReplicas = 0 }, "SLUICE_STREAM_REPLICAS"},
		{"too many stream replicas", func(s *Service) { s.StreamReplicas = 7 }, "SLUICE_STREAM_REPLICAS"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := ok
			c.mutate(&s)
			err := s.Validate()
			if c.wantErr == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("want error naming %s, got %v", c.wantErr, err)
			}
		})
	}
}

func TestPprofIsOffByDefault(t *testing.T) {
	t.Parallel()
	s, err := parse(t, nil, nil)
	if err != nil || s.PprofAddr != "" || s.MetricsAddr != "" {
		t.Fatalf("defaults: pprof %q metrics %q %v; want pprof off", s.PprofAddr, s.MetricsAddr, err)
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	t.Parallel()
	err := Service{NATS: NATS{URL: "x"}, HTTPAddr: "y", SampleRatio: 2, LogLevel: "z", LogFormat: "w"}.Validate()
	for _, name := range []string{"SLUICE_NATS_URL", "SLUICE_HTTP_ADDR", "SLUICE_TRACE_SAMPLE_RATIO", "SLUICE_LOG_LEVEL", "SLUICE_LOG_FORMAT", "SLUICE_SHUTDOWN_TIMEOUT"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
}

func TestDeliveryValidate(t *testing.T) {
	t.Parallel()
	ok := Delivery{MaxAckPending: 64, MaxDeliver: 3, AckWait: time.Minute}
	cases := []struct {
		name    string
		d       Delivery
		wantErr string
	}{
		{"valid", ok, ""},
		{"below in-flight", Delivery{MaxAckPending: 10, MaxDeliver: 3, AckWait: time.Minute}, "--batch-size 32"},
		{"no delivery", Delivery{MaxAckPending: 64, AckWait: time.Minute}, "SLUICE_MAX_DELIVER"},
		{"short ack wait", Delivery{MaxAckPending: 64, MaxDeliver: 3, AckWait: time.Millisecond}, "SLUICE_ACK_WAIT"},
	}
	for _, c := range cases {
		err := c.d.Validate(32, "--batch-size")
		if c.wantErr == "" && err != nil || c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)) {
			t.Errorf("%s: Validate() = %v, want %q", c.name, err, c.wantErr)
		}
	}
}
