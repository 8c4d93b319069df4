package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/bus"
	"github.com/sluice-dev/sluice/internal/servicetest"
	"github.com/sluice-dev/sluice/internal/specstore"
	"github.com/sluice-dev/sluice/internal/testinfra"
)

// binResult is one run of a built binary.
type binResult struct {
	stdout, stderr string
	code           int
}

func runBin(t *testing.T, bin string, env []string, args ...string) binResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return binResult{out.String(), errb.String(), code}
}

// TestCLIBehavesLikeACommandLineTool runs the built binaries: help on stdout with status 0,
// usage errors with status 2, flags anywhere, --version on every binary, completion.
func TestCLIBehavesLikeACommandLineTool(t *testing.T) {
	testinfra.Require(t)
	dir := testinfra.Binaries(t, "sluice", "sluice-extractor", "sluice-staging-store", "sluice-transformer", "sluice-loader", "sluice-sim-amazonads", "sluice-sim-portal", "sluice-sim-catalog")
	sluice := filepath.Join(dir, "sluice")
	noCtx := []string{"SLUICE_CONFIG_DIR=" + t.TempDir()}

	for _, c := range []struct {
		name   string
		args   []string
		code   int
		stdout string // a substring of stdout
		stderr string // a substring of stderr
	}{
		{"help", []string{"-h"}, 0, "Available Commands:", ""},
		{"no command is help", nil, 0, "Available Commands:", ""},
		{"command help", []string{"status", "-h"}, 0, "--watch", ""},
		{"help of a nested command", []string{"dlq", "retry", "--help"}, 0, "--all", ""},
		{"new provider -h is help, not a name", []string{"new", "provider", "-h"}, 0, "--dir", ""},
		{"unknown command", []string{"nope"}, 2, "", `unknown command "nope"`},
		{"unknown flag", []string{"status", "--bogus"}, 2, "", "unknown flag: --bogus"},
		{"missing argument", []string{"run"}, 2, "", "usage: sluice run <provider>"},
		{"bad date", []string{"run", "amazonads", "--from", "June"}, 2, "", `--from "June"`},
		{"flags before the arguments", []string{"spec", "validate", "--version"}, 0, "sluice spec validate", ""},
		{"version", []string{"version"}, 0, "sluice ", ""},
		{"--version", []string{"--version"}, 0, "sluice ", ""},
		{"completion", []string{"completion", "bash"}, 0, "bash completion", ""},
		{"a runtime error exits 1", []string{"spec", "validate", "/does/not/exist.json"}, 1, "", "no such file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := runBin(t, sluice, noCtx, c.args...)
			if r.code != c.code || !strings.Contains(r.stdout, c.stdout) || !strings.Contains(r.stderr, c.stderr) {
				t.Errorf("sluice %q: status %d, want %d\nstdout (want %q):\n%s\nstderr (want %q):\n%s", c.args, r.code, c.code, c.stdout, r.stdout, c.stderr, r.stderr)
			}
		})
	}
	for _, b := range []string{"sluice-extractor", "sluice-staging-store", "sluice-transformer", "sluice-loader"} {
		if r := runBin(t, filepath.Join(dir, b), nil, "--version"); r.code != 0 || !strings.HasPrefix(r.stdout, b+" ") {
			t.Errorf("%s --version: status %d, %q %q", b, r.code, r.stdout, r.stderr)
		}
		if r := runBin(t, filepath.Join(dir, b), nil, "-h"); r.code != 0 || !strings.Contains(r.stdout, "--nats-url") {
			t.Errorf("%s -h: status %d, stdout %q", b, r.code, r.stdout)
		}
		if r := runBin(t, filepath.Join(dir, b), nil, "--no-such-flag"); r.code != 2 {
			t.Errorf("%s --no-such-flag: status %d, want 2", b, r.code)
		}
	}
	for _, b := range []string{"sluice-sim-amazonads", "sluice-sim-portal", "sluice-sim-catalog"} {
		if r := runBin(t, filepath.Join(dir, b), nil, "--version"); r.code != 0 || !strings.HasPrefix(r.stdout, b+" ") {
			t.Errorf("%s --version: status %d, %q %q", b, r.code, r.stdout, r.stderr)
		}
		if r := runBin(t, filepath.Join(dir, b), nil, "--no-such-flag"); r.code != 2 {
			t.Errorf("%s --no-such-flag: status %d, want 2", b, r.code)
		}
	}
}

// TestCLIContextAndProviders: with no flags the CLI reaches the servers of the selected
// context; a variable wins over the context; unknown providers are refused with the known
// ones; a repeated --param keeps every value.
func TestCLIContextAndProviders(t *testing.T) {
	testinfra.Require(t)
	url, js := servicetest.JetStream(t)
	dir := testinfra.Binaries(t, "sluice")
	sluice := filepath.Join(dir, "sluice")
	cfg := t.TempDir()
	if err := os.MkdirAll(filepath.Join(cfg, "contexts"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfg, "contexts", "mine.env"), []byte("SLUICE_NATS_URL="+url+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"SLUICE_CONFIG_DIR=" + cfg}
	if r := runBin(t, sluice, env, "context", "use", "mine"); r.code != 0 {
		t.Fatalf("context use: %d %s", r.code, r.stderr)
	}
	specs, err := specstore.Open(t.Context(), js)
	if err != nil {
		t.Fatal(err)
	}
	if err := specs.Register(t.Context(), itemsSpec(t, "acme", "acme_items", 1)); err != nil {
		t.Fatal(err)
	}

	r := runBin(t, sluice, env, "event", "--param", "a=1", "acme", "--param", "b=2,3", "ping")
	if r.code != 0 {
		t.Fatalf("event with the context's NATS: status %d\n%s", r.code, r.stderr)
	}
	stream, err := js.Stream(t.Context(), bus.StreamEvents)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := stream.GetLastMsgForSubject(t.Context(), "sluice.event.acme.ping")
	if err != nil {
		t.Fatal(err)
	}
	var ev struct{ Params map[string]string }
	if err := json.Unmarshal(msg.Data, &ev); err != nil || ev.Params["a"] != "1" || ev.Params["b"] != "2,3" {
		t.Fatalf("event params %v (%v) from %s, want a=1 and b=2,3", ev.Params, err, msg.Data)
	}

	r = runBin(t, sluice, env, "run", "Acme", "--from", "2025-01-01", "--to", "2025-01-01")
	if r.code != 2 || !strings.Contains(r.stderr, `unknown provider "Acme" (did you mean acme?); known providers: acme`) {
		t.Errorf("a case-mismatched provider: status %d\n%s", r.code, r.stderr)
	}
	if r := runBin(t, sluice, env, "run", "acme", "--from", "2025-01-01", "--to", "2025-01-01"); r.code != 0 {
		t.Errorf("a known provider: status %d\n%s", r.code, r.stderr)
	}
	// A variable wins over the context: this one points nowhere.
	r = runBin(t, sluice, append(env, "SLUICE_NATS_URL=nats://127.0.0.1:1"), "status", "--interval", "0")
	if r.code != 1 || !strings.Contains(r.stderr, "cannot reach NATS at nats://127.0.0.1:1") || strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 {
		t.Errorf("SLUICE_NATS_URL over the context: status %d\n%s", r.code, r.stderr)
	}
}
