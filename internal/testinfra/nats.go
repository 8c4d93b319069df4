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
	return toolBin("nats-server", "v2.15.2")
}

// toolBin is where deploy/local/infra.sh installs tool name at version.
func toolBin(name, version string) string {
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "sluice", "tools", name+"-"+version, "bin", name)
}

// PrivateNATS starts a real nats-server with JetStream, of the version the local servers
// run, on a free loopback port with its own store, and returns its URL. Tests that create
// the named streams and durable consumers use it so they cannot disturb each other or a
// running demo. The server stops when the test ends.
func PrivateNATS(t testing.TB) string {
	t.Helper()
	return StartNATS(t).URL
}

// NATSServer is a private nats-server (see PrivateNATS) that a test can stop and start
// again on the same port and store: a server restart as clients see it.
type NATSServer struct {
	// URL stays the same across restarts.
	URL  string
	t    testing.TB
	bin  string
	dir  string
	addr string
	cmd  *exec.Cmd
	logf *os.File
}

// StartNATS starts a private nats-server that stops when the test ends.
func StartNATS(t testing.TB) *NATSServer {
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
	s := &NATSServer{t: t, bin: bin, dir: t.TempDir(), addr: fmt.Sprintf("127.0.0.1:%d", freePort(t))}
	s.URL = "nats://" + s.addr
	t.Cleanup(s.Stop)
	s.Start()
	return s
}

// Start starts the server again after Stop, on the same port and store, and waits until it
// accepts connections.
func (s *NATSServer) Start() {
	s.t.Helper()
	if s.cmd != nil {
		s.t.Fatal("nats-server already running")
	}
	host, port, _ := net.SplitHostPort(s.addr)
	cmd := exec.Command(s.bin, "-js", "-sd", s.dir, "-a", host, "-p", port)
	logf, err := os.OpenFile(filepath.Join(s.dir, "nats.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		s.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		s.t.Fatalf("start nats-server: %v", err)
	}
	s.cmd, s.logf = cmd, logf
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("nats-server on %s did not start: %v (log %s)", s.addr, err, logf.Name())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop kills the server, as a crash would; its store stays for Start.
func (s *NATSServer) Stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_, _ = s.cmd.Process.Wait()
	s.logf.Close()
	s.cmd, s.logf = nil, nil
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
