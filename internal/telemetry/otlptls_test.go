package telemetry

import (
	"context"
	"crypto/tls"
	"net"
	"sync/atomic"
	"testing"
	"time"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/sluice-dev/sluice/internal/testinfra"
)

// collector is an OTLP trace receiver that counts the spans it is sent.
type collector struct {
	coltrace.UnimplementedTraceServiceServer
	spans atomic.Int64
}

func (c *collector) Export(_ context.Context, req *coltrace.ExportTraceServiceRequest) (*coltrace.ExportTraceServiceResponse, error) {
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			c.spans.Add(int64(len(ss.Spans)))
		}
	}
	return &coltrace.ExportTraceServiceResponse{}, nil
}

// TestOTLPExportOverTLS exports to a collector that speaks only TLS and asks for a client
// certificate (a generated CA): spans arrive with the CA and certificate configured, and
// none arrive without them (plain text, or a collector the CA did not sign).
func TestOTLPExportOverTLS(t *testing.T) {
	files := testinfra.GenerateTLS(t, t.TempDir())
	serverCert, err := tls.LoadX509KeyPair(files.ServerCert, files.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	caPool, err := (TLS{CAFile: files.CA}).config()
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	col := &collector{}
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{serverCert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: caPool.RootCAs,
	})))
	coltrace.RegisterTraceServiceServer(srv, col)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	endpoint := lis.Addr().String()

	export := func(tlsCfg TLS) int64 {
		t.Helper()
		before := col.spans.Load()
		tel, err := Setup(context.Background(), Config{ServiceName: "otlp-tls-test", OTLPEndpoint: endpoint, SampleRatio: 1, OTLPTLS: tlsCfg})
		if err != nil {
			t.Fatal(err)
		}
		_, span := tel.Tracer.Start(context.Background(), "op")
		span.End()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = tel.Shutdown(ctx)
		return col.spans.Load() - before
	}
	if n := export(TLS{CAFile: files.CA, CertFile: files.ClientCert, KeyFile: files.ClientKey}); n != 1 {
		t.Fatalf("with the CA and a client certificate: %d spans arrived, want 1", n)
	}
	if n := export(TLS{Insecure: true}); n != 0 {
		t.Fatalf("plain text reached a TLS-only collector: %d spans", n)
	}
	if n := export(TLS{CAFile: files.OtherCA, CertFile: files.ClientCert, KeyFile: files.ClientKey}); n != 0 {
		t.Fatalf("a collector of another CA was trusted: %d spans", n)
	}
}

func TestOTLPPlaintextOnlyOnLoopbackOrWhenAsked(t *testing.T) {
	t.Parallel()
	cases := []struct {
		tls      TLS
		endpoint string
		want     bool
	}{
		{TLS{}, "127.0.0.1:4317", true},
		{TLS{}, "localhost:4317", true},
		{TLS{}, "[::1]:4317", true},
		{TLS{}, "jaeger-collector.observability:4317", false},
		{TLS{}, "10.0.0.5:4317", false},
		{TLS{Insecure: true}, "jaeger:4317", true},
		{TLS{CAFile: "ca.pem"}, "127.0.0.1:4317", false},
	}
	for _, c := range cases {
		if got := c.tls.plaintext(c.endpoint); got != c.want {
			t.Errorf("%+v %s: plaintext = %v, want %v", c.tls, c.endpoint, got, c.want)
		}
	}
}
