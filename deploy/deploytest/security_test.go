package deploytest

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/sluice-dev/sluice/internal/testinfra"
)

// podObjects are the Deployments and Jobs of objs.
func podObjects(objs []object) []object {
	return append(byKind(objs, "Deployment"), byKind(objs, "Job")...)
}

// TestChartDefaultsAreSecure renders the chart's defaults (and the production values):
// every workload reaches NATS over TLS as its own user whose password is a mounted file
// holding only its own key, no secret is a container argument, the loader verifies
// PostgreSQL's certificate, provisioning uses an admin connection of its own, and an
// extractor's egress to provider APIs excludes cluster, private and link-local ranges.
func TestChartDefaultsAreSecure(t *testing.T) {
	t.Parallel()
	helm(t)
	for _, v := range valueSets {
		if v.name != "default" && v.name != "production" {
			continue
		}
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			var extra []string
			if v.name == "default" {
				extra = []string{"--set", "providers[0].name=amazonads", "--set", "providers[0].enabled=true"}
			}
			objs := render(t, v.namespace(), v.files(), extra...)
			secretArg := regexp.MustCompile(`(?i)(secret|password|token)|://[^/@\s]*:[^/@\s]*@|--postgres-url|--mongo-uri`)
			for _, o := range podObjects(objs) {
				spec := podSpec(o)
				c := firstContainer(o)
				args, _ := c["args"].([]any)
				for _, a := range args {
					if secretArg.MatchString(str(a)) {
						t.Errorf("%s: argument %q carries a secret (visible in ps)", o.id(), a)
					}
				}
				e := env(c)
				for _, k := range []string{"SLUICE_NATS_TLS_CA", "SLUICE_NATS_USER", "SLUICE_NATS_PASSWORD_FILE"} {
					if _, ok := e[k]; !ok {
						t.Errorf("%s: no %s: NATS must be reached over TLS as the service's own user", o.id(), k)
					}
				}
				for _, vol := range maps(spec["volumes"]) {
					if str(vol["name"]) != "nats-auth" {
						continue
					}
					items := maps(asMap(vol["secret"])["items"])
					if len(items) != 1 || str(items[0]["key"]) != e["SLUICE_NATS_USER"]+"-password" {
						t.Errorf("%s: nats-auth mounts %v; want only the key of its user %s", o.id(), items, e["SLUICE_NATS_USER"])
					}
				}
			}
			for _, j := range byKind(objs, "Job") {
				e := env(firstContainer(j))
				if _, ok := e["SLUICE_POSTGRES_ADMIN_URL_FILE"]; !ok && v.name == "default" {
					t.Errorf("%s: provisions PostgreSQL without its own admin connection file", j.id())
				}
				if e["SLUICE_LOADER_ROLE"] == "" && v.name == "default" {
					t.Errorf("%s: does not create the loader's least-privileged role", j.id())
				}
			}
			if v.name == "default" {
				for _, s := range byKind(objs, "Secret") {
					if raw := str(asMap(s.get("data"))["postgres-url"]); raw != "" {
						u, _ := base64.StdEncoding.DecodeString(raw)
						if !strings.Contains(string(u), "sslmode=verify-full") {
							t.Errorf("default loader URL %q does not verify the server", u)
						}
					}
				}
			}
			sawExtractor := false
			for _, np := range byKind(objs, "NetworkPolicy") {
				if str(np.labels()["app.kubernetes.io/component"]) != "extractor" {
					continue
				}
				sawExtractor = true
				for _, rule := range maps(np.get("spec", "egress")) {
					for _, peer := range maps(rule["to"]) {
						block := asMap(peer["ipBlock"])
						if block == nil || str(block["cidr"]) != "0.0.0.0/0" {
							continue
						}
						var except []string
						list, _ := block["except"].([]any)
						for _, x := range list {
							except = append(except, str(x))
						}
						for _, want := range []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "100.64.0.0/10"} {
							if !slices.Contains(except, want) {
								t.Errorf("%s: egress to 0.0.0.0/0 does not exclude %s", np.id(), want)
							}
						}
					}
				}
			}
			if !sawExtractor {
				t.Error("no extractor NetworkPolicy rendered")
			}
		})
	}
}

// TestChartNATSPermissionsLoadInNATS renders the permissions ConfigMap and starts a real
// nats-server whose configuration includes it and gives each variable to a user: the
// server accepts it (the syntax and every subject are valid).
func TestChartNATSPermissionsLoadInNATS(t *testing.T) {
	helm(t)
	objs := render(t, "sluice-perm", nil, "--set", "providers[0].name=amazonads", "--set", "providers[0].enabled=true")
	var conf string
	for _, cm := range byKind(objs, "ConfigMap") {
		if cm.name() == release+"-nats-permissions" {
			conf = str(asMap(cm.get("data"))["sluice-permissions.conf"])
		}
	}
	vars := regexp.MustCompile(`(?m)^(SLUICE_[A-Z_]+) = \{`).FindAllStringSubmatch(conf, -1)
	if len(vars) != 5 || !strings.Contains(conf, "SLUICE_EXTRACTOR_AMAZONADS") || !strings.Contains(conf, "sluice.raw.amazonads.>") {
		t.Fatalf("want five permission sets, the extractor's for amazonads, got %d:\n%s", len(vars), conf)
	}
	tls := testinfra.GenerateTLS(t, t.TempDir())
	testinfra.StartNATSConfig(t, func(addr, store string) string {
		// An include is relative to the configuration file, which is in store.
		if err := os.WriteFile(filepath.Join(store, "sluice-permissions.conf"), []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		var users strings.Builder
		for _, v := range vars {
			fmt.Fprintf(&users, "      {user: %q, password: \"x\", permissions: $%s}\n", strings.ToLower(v[1]), v[1])
		}
		return fmt.Sprintf("listen: %s\njetstream { store_dir: %q }\ntls { cert_file: %q, key_file: %q }\ninclude %q\naccounts { SLUICE { jetstream: enabled, users: [\n%s] } }\n",
			addr, store, tls.ServerCert, tls.ServerKey, "sluice-permissions.conf", users.String())
	})
}
