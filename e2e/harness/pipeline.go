// Package harness runs the whole sluice pipeline as real processes against real servers,
// for the end-to-end test and `make demo`.
package harness

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/sluice-dev/sluice/internal/procs"
)

// Config says where the servers are and how to run the services.
type Config struct {
	// Bin holds the service binaries (see procs.Build).
	Bin    string
	LogDir string

	NATSURL       string
	PostgresURL   string
	MongoURI      string
	MongoDatabase string
	S3Endpoint    string
	S3AccessKey   string
	S3SecretKey   string
	S3Region      string
	S3Bucket      string
	OTLPEndpoint  string

	// Provider is the provider the extractor runs; ProviderConfig is its JSON config.
	Provider       string
	ProviderConfig any
}

// Env is the environment of every service process.
func (c Config) Env() map[string]string {
	return map[string]string{
		"SLUICE_NATS_URL":         c.NATSURL,
		"SLUICE_POSTGRES_URL":     c.PostgresURL,
		"SLUICE_MONGO_URI":        c.MongoURI,
		"SLUICE_MONGO_DATABASE":   c.MongoDatabase,
		"SLUICE_S3_ENDPOINT":      c.S3Endpoint,
		"SLUICE_S3_ACCESS_KEY":    c.S3AccessKey,
		"SLUICE_S3_SECRET_KEY":    c.S3SecretKey,
		"SLUICE_S3_REGION":        c.S3Region,
		"SLUICE_S3_BUCKET":        c.S3Bucket,
		"SLUICE_OTLP_ENDPOINT":    c.OTLPEndpoint,
		"SLUICE_LOG_FORMAT":       "text",
		"SLUICE_SHUTDOWN_TIMEOUT": "10s",
	}
}

// Services are the running services and their health/metrics addresses.
type Services struct {
	Group procs.Group
	// HTTP maps a service name to its /healthz, /readyz, /metrics address.
	HTTP map[string]string
}

// Start runs the four services, each as its own process, and waits until each is ready.
func Start(c Config) (*Services, error) {
	if err := os.MkdirAll(c.LogDir, 0o755); err != nil {
		return nil, err
	}
	var providerArgs []string
	if c.ProviderConfig != nil {
		data, err := json.Marshal(c.ProviderConfig)
		if err != nil {
			return nil, err
		}
		path := filepath.Join(c.LogDir, c.Provider+"-config.json")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			return nil, err
		}
		providerArgs = []string{"--provider-config", path}
	}
	specs := []struct {
		name, bin string
		args      []string
	}{
		{"staging-store", "sluice-staging-store", nil},
		{"transformer", "sluice-transformer", nil},
		{"loader", "sluice-loader", nil},
		{"extractor-" + c.Provider, "sluice-extractor", append([]string{"--provider", c.Provider}, providerArgs...)},
	}
	s := &Services{HTTP: map[string]string{}}
	for _, sp := range specs {
		addr, err := freeAddr()
		if err != nil {
			return nil, err
		}
		env := c.Env()
		env["SLUICE_HTTP_ADDR"] = addr
		p, err := procs.Start(sp.name, filepath.Join(c.Bin, sp.bin), sp.args, procs.Env(env), c.LogDir)
		if err != nil {
			_ = s.Group.Stop(5 * time.Second)
			return nil, err
		}
		s.Group = append(s.Group, p)
		s.HTTP[sp.name] = addr
		if err := waitReady(p, addr, 30*time.Second); err != nil {
			_ = s.Group.Stop(5 * time.Second)
			return nil, err
		}
	}
	return s, nil
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return "127.0.0.1:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port), nil
}
