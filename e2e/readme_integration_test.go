package e2e

import (
	"bufio"
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/e2e/harness"
	"github.com/sluice-dev/sluice/internal/testinfra"
)

// TestREADMECommands runs the demo (a smaller month), then every shell block of README.md as
// written, in the repository root, with the binaries on PATH and no SLUICE_* variables: the
// CLI finds the demo's servers through the context the demo saved. A command that fails
// fails the test (`make` lines are CI's own and skipped).
func TestREADMECommands(t *testing.T) {
	env := testinfra.Require(t, testinfra.Postgres, testinfra.Mongo, testinfra.S3, testinfra.Jaeger)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	wd, _ := os.Getwd()
	root, err := testinfra.RepoRoot(wd)
	if err != nil {
		t.Fatal(err)
	}
	bin := testinfra.Binaries(t, "sluice-extractor", "sluice-staging-store", "sluice-transformer", "sluice-loader", "sluice")
	demo := filepath.Join(bin, "demo")
	build := exec.CommandContext(ctx, "go", "build", "-o", demo, "./e2e/demo")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the demo: %v\n%s", err, out)
	}
	db := "sluice_readme_" + strconv.FormatUint(rand.Uint64()%1e9, 36)
	t.Cleanup(func() {
		_ = harness.DropDatabase(context.Background(), env.PostgresURL, db)
		dropMongoDatabase(env.MongoURI, db)
	})
	cfgDir := t.TempDir()
	run := func(name string, cmd *exec.Cmd) string {
		t.Helper()
		cmd.Dir = root
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, out.String())
		}
		return out.String()
	}
	demoCmd := exec.CommandContext(ctx, demo, "--bin", bin, "--profiles", "20", "--days", "3", "--nats-url", testinfra.PrivateNATS(t), "--database", db)
	demoCmd.Env = append(os.Environ(), "SLUICE_CONFIG_DIR="+cfgDir)
	if out := run("demo", demoCmd); !strings.Contains(out, "sluice demo: done") {
		t.Fatalf("demo did not finish:\n%s", out)
	}

	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := shellBlocks(string(readme))
	if len(blocks) < 2 {
		t.Fatalf("README has %d shell blocks", len(blocks))
	}
	if _, err := os.Stat(filepath.Join(root, "services/extractor/providers/acme")); err == nil {
		t.Fatal("services/extractor/providers/acme exists: the README's `sluice new provider acme` would refuse to overwrite it")
	}
	t.Cleanup(func() { _ = os.RemoveAll(filepath.Join(root, "services/extractor/providers/acme")) })
	cliEnv := []string{"PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "SLUICE_CONFIG_DIR=" + cfgDir}
	for i, b := range blocks {
		script := "set -euo pipefail\n" + b
		cmd := exec.CommandContext(ctx, "bash", "-c", script)
		cmd.Env = cliEnv
		out := run("README shell block "+strconv.Itoa(i+1)+":\n"+b, cmd)
		t.Logf("README block %d:\n%s\n%s", i+1, b, out)
	}
}

// shellBlocks returns the ```sh blocks of a markdown text, without `make` lines.
func shellBlocks(md string) []string {
	var blocks []string
	var cur strings.Builder
	in := false
	sc := bufio.NewScanner(strings.NewReader(md))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case !in && strings.HasPrefix(line, "```sh"):
			in = true
			cur.Reset()
		case in && strings.HasPrefix(line, "```"):
			in = false
			if cur.Len() > 0 {
				blocks = append(blocks, cur.String())
			}
		case in && !strings.HasPrefix(strings.TrimSpace(line), "make "):
			cur.WriteString(line + "\n")
		}
	}
	return blocks
}
