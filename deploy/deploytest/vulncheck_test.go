package deploytest

import (
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// runVulncheck runs deploy/local/vulncheck.sh with env added.
func runVulncheck(t *testing.T, env ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("bash", filepath.Join(repoRoot(t), "deploy", "local", "vulncheck.sh"))
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestVulncheckSkipsPlainlyWithoutItsDatabase: an unreachable vulnerability database is
// reported as a skipped check, and does not fail make lint.
func TestVulncheckSkipsPlainlyWithoutItsDatabase(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String()
	l.Close()
	out, err := runVulncheck(t, "GOVULNDB="+closed)
	if err != nil {
		t.Fatalf("an unreachable database must not fail lint: %v\n%s", err, out)
	}
	if !strings.Contains(out, "govulncheck SKIPPED") || !strings.Contains(out, "unreachable") {
		t.Fatalf("want a plain SKIPPED message, got:\n%s", out)
	}
}

// TestVulncheckFailsOnFindings: with the database reachable, a govulncheck that reports
// vulnerabilities (exit status 3) fails the check.
func TestVulncheckFailsOnFindings(t *testing.T) {
	db := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/index/db.json.gz" {
			w.WriteHeader(http.StatusOK)
			return
		}
		http.NotFound(w, r)
	}))
	defer db.Close()
	fake := filepath.Join(t.TempDir(), "govulncheck")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\necho \"Vulnerability #1: GO-0000-0000\"\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := runVulncheck(t, "GOVULNDB="+db.URL, "GOVULNCHECK_BIN="+fake)
	if err == nil {
		t.Fatalf("findings must fail lint:\n%s", out)
	}
	if !strings.Contains(out, "GO-0000-0000") || strings.Contains(out, "SKIPPED") {
		t.Fatalf("want the finding reported, got:\n%s", out)
	}
}
