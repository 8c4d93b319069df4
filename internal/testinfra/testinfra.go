// Package testinfra gives integration tests the addresses of the real local servers that
// deploy/local/infra.sh starts, and decides whether a test runs, skips or fails.
//
// Run by hand with plain `go test` and no servers, an integration test skips with a message
// that says how to start them. Under `make test` (SLUICE_INTEGRATION=1) a missing server is a
// failure, so CI cannot pass without running the integration tests. `go test -short` skips
// every integration test.
package testinfra

import (
	"net"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
)

// Env holds where each local server listens.
type Env struct {
	NATSURL      string
	PostgresURL  string
	MongoURI     string
	S3Endpoint   string
	S3AccessKey  string
	S3SecretKey  string
	S3Region     string
	OTLPEndpoint string
	JaegerURL    string
}

// Defaults match deploy/local/infra.sh.
var defaults = map[string]string{
	"SLUICE_NATS_URL":      "nats://127.0.0.1:14222",
	"SLUICE_POSTGRES_URL":  "postgres://sluice:sluice@127.0.0.1:5432/sluice?sslmode=disable",
	"SLUICE_MONGO_URI":     "mongodb://127.0.0.1:27017/",
	"SLUICE_S3_ENDPOINT":   "http://127.0.0.1:9000",
	"SLUICE_S3_ACCESS_KEY": "sluice",
	"SLUICE_S3_SECRET_KEY": "sluice-secret-key",
	"SLUICE_S3_REGION":     "us-east-1",
	"SLUICE_OTLP_ENDPOINT": "127.0.0.1:4317",
	"SLUICE_JAEGER_URL":    "http://127.0.0.1:16686",
}

func get(key string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return defaults[key]
}

// Load returns the environment without checking any server.
func Load() Env {
	return Env{
		NATSURL:      get("SLUICE_NATS_URL"),
		PostgresURL:  get("SLUICE_POSTGRES_URL"),
		MongoURI:     get("SLUICE_MONGO_URI"),
		S3Endpoint:   get("SLUICE_S3_ENDPOINT"),
		S3AccessKey:  get("SLUICE_S3_ACCESS_KEY"),
		S3SecretKey:  get("SLUICE_S3_SECRET_KEY"),
		S3Region:     get("SLUICE_S3_REGION"),
		OTLPEndpoint: get("SLUICE_OTLP_ENDPOINT"),
		JaegerURL:    get("SLUICE_JAEGER_URL"),
	}
}

// Server names a local server an integration test needs.
type Server string

// The servers deploy/local/infra.sh runs.
const (
	NATS     Server = "nats"
	Postgres Server = "postgres"
	Mongo    Server = "mongo"
	S3       Server = "s3"
	Jaeger   Server = "jaeger"
)

// Require returns the environment when every named server answers; otherwise it skips the
// test, or fails it when SLUICE_INTEGRATION=1.
func Require(t testing.TB, servers ...Server) Env {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: skipped with -short")
	}
	env := Load()
	for _, s := range servers {
		addr := env.addr(s)
		conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err == nil {
			conn.Close()
			continue
		}
		msg := "integration test needs " + string(s) + " at " + addr + " (" + err.Error() +
			"); start the local servers with `make infra-up` (deploy/local/infra.sh up)"
		if os.Getenv("SLUICE_INTEGRATION") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return env
}

func (e Env) addr(s Server) string {
	switch s {
	case NATS:
		return hostPort(e.NATSURL)
	case Postgres:
		return hostPort(e.PostgresURL)
	case Mongo:
		return hostPort(e.MongoURI)
	case S3:
		return hostPort(e.S3Endpoint)
	case Jaeger:
		return hostPort(e.JaegerURL)
	}
	return ""
}

func hostPort(raw string) string {
	if !strings.Contains(raw, "://") {
		return raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return u.Host
}
