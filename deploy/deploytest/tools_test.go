package deploytest

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// The pinned helm of deploy/local/k8s-tools.sh.
const helmVersion = "v3.22.0"

const startTools = "run `bash deploy/local/k8s-tools.sh up` (or `make test`)"

// repoRoot is the directory holding go.work, found from this file's location so the tests
// run from any working directory.
func repoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the test source file")
	}
	dir := filepath.Dir(file)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("no go.work above %s", filepath.Dir(file))
		}
		dir = parent
	}
}

// unavailable skips the test, or fails it under SLUICE_INTEGRATION=1, where a missing tool
// must not turn into a green run.
func unavailable(t testing.TB, msg string) {
	t.Helper()
	msg += "; " + startTools
	if os.Getenv("SLUICE_INTEGRATION") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

func cacheDir() string {
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "sluice")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "sluice")
}

// toolEnv reads a variable from the environment, else from the env file that
// `k8s-tools.sh up` writes, so plain `go test` works after `up` without eval.
var toolEnv = sync.OnceValue(func() map[string]string {
	vars := map[string]string{}
	dir := os.Getenv("SLUICE_K8S_DIR")
	if dir == "" {
		dir = filepath.Join(cacheDir(), "infra", "k8s")
	}
	if f, err := os.Open(filepath.Join(dir, "env")); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line := strings.TrimPrefix(strings.TrimSpace(sc.Text()), "export ")
			if k, v, ok := strings.Cut(line, "="); ok {
				vars[k] = v
			}
		}
	}
	for _, k := range []string{"SLUICE_HELM", "KUBE_APISERVER_URL", "KUBE_APISERVER_TOKEN", "KUBE_APISERVER_CA"} {
		if v := os.Getenv(k); v != "" {
			vars[k] = v
		}
	}
	return vars
})

// helm returns the path of the pinned helm binary.
func helm(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("chart test: skipped with -short")
	}
	candidates := []string{
		toolEnv()["SLUICE_HELM"],
		filepath.Join(cacheDir(), "tools", "helm-"+helmVersion, "bin", "helm"),
	}
	for _, c := range candidates {
		if c == "" {
			continue
		}
		if fi, err := os.Stat(c); err == nil && !fi.IsDir() {
			return c
		}
	}
	if p, err := exec.LookPath("helm"); err == nil {
		return p
	}
	unavailable(t, "helm "+helmVersion+" not found (SLUICE_HELM, the tool cache or PATH)")
	return ""
}
