package deploytest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// kubeconfig writes a kubeconfig for the test API server, for helm.
func kubeconfig(t *testing.T, k *kube) string {
	t.Helper()
	env := toolEnv()
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
  - name: test
    cluster: {server: %q, certificate-authority: %q}
users:
  - name: test
    user: {token: %q}
contexts:
  - name: test
    context: {cluster: test, user: test}
current-context: test
`, k.base, env["KUBE_APISERVER_CA"], k.token)
	f := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(f, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestNotes: NOTES.txt tells the operator where to look, for every value set.
func TestNotes(t *testing.T) {
	t.Parallel()
	helm(t)
	k := apiServer(t)
	cfg := kubeconfig(t, k)
	for _, v := range valueSets {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			args := []string{"install", release, chartDir(t), "--dry-run=client", "--namespace", v.namespace(), "--kubeconfig", cfg}
			for _, f := range v.files() {
				args = append(args, "--values", filepath.Join(chartDir(t), f))
			}
			out, err := runHelm(t, args...)
			if err != nil {
				t.Fatal(err)
			}
			_, notes, ok := strings.Cut(string(out), "\nNOTES:\n")
			if !ok {
				t.Fatalf("no NOTES in helm install output:\n%s", out)
			}
			want := []string{"/healthz", "/readyz", "/metrics", "-- status", "job/" + release + "-provision", "Traces:"}
			for _, p := range v.providers {
				want = append(want, release+"-extractor-"+p)
			}
			if v.keda != nil {
				want = append(want, "KEDA:")
			}
			if v.simulator {
				want = append(want, release+"-sim-amazonads:8089")
			}
			for _, w := range want {
				if !strings.Contains(notes, w) {
					t.Errorf("NOTES do not mention %q:\n%s", w, notes)
				}
			}
		})
	}
}

// TestInstallUpgradeUninstall installs the chart for real (without hooks: the provision Job
// would wait for a kubelet this server lacks), upgrades it to another value set and a new
// image tag, and uninstalls it. It catches what a create dry-run cannot: an upgrade that
// changes an immutable field such as a Deployment's selector.
func TestInstallUpgradeUninstall(t *testing.T) {
	t.Parallel()
	helm(t)
	k := apiServer(t)
	installFixtures(t, k)
	cfg := kubeconfig(t, k)
	ns := "sluice-install"
	base := []string{"--namespace", ns, "--create-namespace", "--kubeconfig", cfg, "--no-hooks"}
	// A release left by an interrupted run would make install fail.
	if _, err := runHelm(t, "uninstall", release, "--namespace", ns, "--kubeconfig", cfg, "--ignore-not-found"); err != nil {
		t.Fatal(err)
	}
	steps := [][]string{
		append([]string{"install", release, chartDir(t), "--values", filepath.Join(chartDir(t), "ci/minimal-values.yaml")}, base...),
		append([]string{"upgrade", release, chartDir(t), "--values", filepath.Join(chartDir(t), "ci/demo-values.yaml"), "--set", "global.imageTag=9.9.9"}, base...),
		append([]string{"upgrade", release, chartDir(t), "--values", filepath.Join(chartDir(t), "ci/production-values.yaml"), "--set", "global.imageTag=10.0.0"}, base...),
	}
	for _, args := range steps {
		if _, err := runHelm(t, args...); err != nil {
			t.Fatal(err)
		}
	}
	got, err := k.get(t.Context(), object{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": map[string]any{"name": release + "-extractor-sqlbackfill"}}, ns)
	if err != nil {
		t.Fatalf("after the upgrade to production values: %v", err)
	}
	if img := str(firstContainer(object(got))["image"]); !strings.HasSuffix(img, ":10.0.0") {
		t.Errorf("extractor image %s after the upgrade with global.imageTag=10.0.0", img)
	}
	if _, err := runHelm(t, "uninstall", release, "--namespace", ns, "--kubeconfig", cfg); err != nil {
		t.Fatal(err)
	}
}
