// Package harness runs the whole sluice pipeline as real processes against real servers,
// for the end-to-end test and `make demo`.
package harness

import (
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/sluice-dev/sluice/internal/testinfra"
)

// Config says where the servers are and how to run the services.
type Config struct {
	// Bin holds the service binaries (see testinfra.Build).
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
	// ExtractorArgs are added to the extractor's command line.
	ExtractorArgs []string
	// ProviderEnv is added to the extractor's environment: the provider's secrets.
	ProviderEnv map[string]string
	// Env is added to every service's environment (e.g. the keys of another S3 account,
	// SLUICE_S3_<NAME>_ACCESS_KEY, which the extractor and the transformer both read).
	Env map[string]string
	// ServiceEnv adds variables to one service's environment, by service name
	// ("extractor-<provider>", "staging-store", "transformer", "loader"): its own NATS
	// user, for example.
	ServiceEnv map[string]map[string]string
}

// extractorArgs are the extractor's flags: the simulators the harness runs against are on
// loopback over plain HTTP, which the egress guard refuses by default.
func (c Config) extractorArgs(providerArgs []string) []string {
	args := []string{"--egress-allow-hosts=127.0.0.1,localhost", "--egress-allow-http", "--egress-allow-private", "--provider", c.Provider}
	return append(append(args, providerArgs...), c.ExtractorArgs...)
}

func (c Config) env() map[string]string {
	env := map[string]string{
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
	maps.Copy(env, c.Env)
	return env
}

// Services are the running services and their health/metrics addresses.
type Services struct {
	Group testinfra.Group
	// HTTP maps a service name to its /healthz, /readyz, /metrics address.
	HTTP  map[string]string
	start map[string]func() (*testinfra.Proc, error)
}

// Restart starts service name again (after a kill), on a new address, and waits until it
// is ready; the new process joins Group.
func (s *Services) Restart(name string) (*testinfra.Proc, error) {
	start, ok := s.start[name]
	if !ok {
		return nil, fmt.Errorf("no service %s", name)
	}
	return start()
}

// Start runs the four services, each as its own process, and waits until each is ready.
func Start(c Config) (*Services, error) {
	providerArgs, err := c.providerArgs()
	if err != nil {
		return nil, err
	}
	specs := []struct {
		name, bin string
		args      []string
	}{
		{"staging-store", "sluice-staging-store", nil},
		{"transformer", "sluice-transformer", nil},
		{"loader", "sluice-loader", nil},
		{"extractor-" + c.Provider, "sluice-extractor", c.extractorArgs(providerArgs)},
	}
	s := &Services{HTTP: map[string]string{}, start: map[string]func() (*testinfra.Proc, error){}}
	for _, sp := range specs {
		s.start[sp.name] = func() (*testinfra.Proc, error) {
			addr, err := freeAddr()
			if err != nil {
				return nil, err
			}
			env := c.env()
			env["SLUICE_HTTP_ADDR"] = addr
			if sp.bin == "sluice-extractor" {
				maps.Copy(env, c.ProviderEnv)
			}
			maps.Copy(env, c.ServiceEnv[sp.name])
			p, err := testinfra.StartProc(sp.name, filepath.Join(c.Bin, sp.bin), sp.args, testinfra.ProcEnv(env), c.LogDir)
			if err != nil {
				return nil, err
			}
			s.Group = append(s.Group, p)
			s.HTTP[sp.name] = addr
			return p, waitReady(p, addr, 30*time.Second)
		}
		if _, err := s.start[sp.name](); err != nil {
			_ = s.Group.Stop(5 * time.Second)
			return nil, err
		}
	}
	return s, nil
}

// providerArgs writes the provider's config file and returns the flags naming it.
func (c Config) providerArgs() ([]string, error) {
	if err := os.MkdirAll(c.LogDir, 0o755); err != nil {
		return nil, err
	}
	if c.ProviderConfig == nil {
		return nil, nil
	}
	data, err := json.Marshal(c.ProviderConfig)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(c.LogDir, c.Provider+"-config.json")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return nil, err
	}
	return []string{"--provider-config", path}, nil
}

// Extractor starts one more extractor process of c's provider, named name (a replica,
// or a restart after a kill), and waits until it is ready.
func (c Config) Extractor(name string) (*testinfra.Proc, error) {
	p, _, err := c.ExtractorAt(name)
	return p, err
}

// ExtractorAt is Extractor that also returns the replica's /healthz, /readyz, /metrics
// address.
func (c Config) ExtractorAt(name string) (*testinfra.Proc, string, error) {
	providerArgs, err := c.providerArgs()
	if err != nil {
		return nil, "", err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	env := c.env()
	env["SLUICE_HTTP_ADDR"] = addr
	maps.Copy(env, c.ProviderEnv)
	maps.Copy(env, c.ServiceEnv["extractor-"+c.Provider])
	p, err := testinfra.StartProc(name, filepath.Join(c.Bin, "sluice-extractor"), c.extractorArgs(providerArgs), testinfra.ProcEnv(env), c.LogDir)
	if err != nil {
		return nil, "", err
	}
	if err := waitReady(p, addr, 30*time.Second); err != nil {
		_ = p.Stop(5 * time.Second)
		return nil, "", err
	}
	return p, addr, nil
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return "127.0.0.1:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port), nil
}
