package testinfra

import (
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// EmbeddedNATS runs a NATS server with JetStream inside the test process, on a free
// loopback port with its store in a temporary directory, and returns its URL. It needs no
// nats-server binary: it is what the provider conformance suite uses in a provider team's
// repository, where no local servers run.
func EmbeddedNATS(t testing.TB) string {
	t.Helper()
	ns, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: t.TempDir(),
		NoLog: true, NoSigs: true,
	})
	if err != nil {
		t.Fatalf("embedded NATS: %v", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		t.Fatal("embedded NATS did not start")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	return ns.ClientURL()
}

// TestNATS is a NATS server for a test that needs nothing but JetStream: a private
// nats-server process of the pinned version when deploy/local installed one (and
// SLUICE_TEST_NATS is not "embedded"), else one inside the test process. It says which.
func TestNATS(t testing.TB) (url, kind string) {
	t.Helper()
	if os.Getenv("SLUICE_TEST_NATS") != "embedded" {
		if _, err := os.Stat(NATSServerBin()); err == nil {
			return PrivateNATS(t), "nats-server process"
		}
	}
	return EmbeddedNATS(t), "embedded"
}
