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

// VersityGWBin is where deploy/local/infra.sh installs the pinned versitygw
// (SLUICE_VERSITYGW_BIN overrides it).
func VersityGWBin() string {
	if p := os.Getenv("SLUICE_VERSITYGW_BIN"); p != "" {
		return p
	}
	return toolBin("versitygw", "v1.8.0")
}

// S3Server is a private S3 server (versitygw over a temporary directory) with keys of
// its own: a second "account" next to the shared one on :9000, so a transfer crosses
// endpoints and credentials.
type S3Server struct {
	Endpoint, AccessKey, SecretKey, Region string
}

// StartS3 starts a private versitygw on a free loopback port; it stops when the test ends.
func StartS3(t testing.TB) S3Server {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: skipped with -short")
	}
	bin := VersityGWBin()
	if _, err := os.Stat(bin); err != nil {
		msg := "integration test needs versitygw at " + bin + "; install it with `make infra-up` (deploy/local/infra.sh up)"
		if os.Getenv("SLUICE_INTEGRATION") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	s, stop, err := LaunchS3(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return s
}

// LaunchS3 starts a private versitygw storing under dir (benchmarks; tests use StartS3)
// and returns it once it accepts connections, with the function that stops it.
func LaunchS3(dir string) (S3Server, func(), error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return S3Server{}, nil, err
	}
	addr := l.Addr().String()
	l.Close()
	s := S3Server{Endpoint: "http://" + addr, AccessKey: "second-account", SecretKey: "second-account-secret", Region: "us-east-1"}
	logf, err := os.Create(filepath.Join(dir, "versitygw.log"))
	if err != nil {
		return s, nil, err
	}
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		logf.Close()
		return s, nil, err
	}
	cmd := exec.Command(VersityGWBin(), "--access", s.AccessKey, "--secret", s.SecretKey, "--port", addr, "posix", data)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return s, nil, fmt.Errorf("start versitygw: %w", err)
	}
	stop := func() {
		_ = cmd.Process.Kill()
		_, _ = cmd.Process.Wait()
		logf.Close()
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return s, stop, nil
		}
		if time.Now().After(deadline) {
			stop()
			return s, nil, fmt.Errorf("versitygw on %s did not start: %w (log %s)", addr, err, logf.Name())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
