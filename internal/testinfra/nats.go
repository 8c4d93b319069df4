package testinfra

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// NATSServerBin is where deploy/local/infra.sh installs the pinned nats-server
// (SLUICE_NATS_SERVER_BIN overrides it).
func NATSServerBin() string {
	if p := os.Getenv("SLUICE_NATS_SERVER_BIN"); p != "" {
		return p
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "sluice", "tools", "nats-server-v2.15.2", "bin", "nats-server")
}

// PrivateNATS starts a real nats-server with JetStream, of the version the local servers
// run, on a free loopback port with its own store, and returns its URL. Tests that create
// the named streams and durable consumers use it so they cannot disturb each other or a
// running demo. The server stops when the test ends.
func PrivateNATS(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: skipped with -short")
	}
	bin := NATSServerBin()
	if _, err := os.Stat(bin); err != nil {
		msg := "integration test needs nats-server at " + bin + "; install it with `make infra-up` (deploy/local/infra.sh up)"
		if os.Getenv("SLUICE_INTEGRATION") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	port := freePort(t)
	dir := t.TempDir()
	cmd := exec.Command(bin, "-js", "-sd", dir, "-a", "127.0.0.1", "-p", fmt.Sprint(port))
	logf, err := os.Create(filepath.Join(dir, "nats.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start nats-server: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_, _ = cmd.Process.Wait()
		logf.Close()
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("nats-server on %s did not start: %v (log %s)", addr, err, logf.Name())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return "nats://" + addr
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int { return freePort(t) }

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
