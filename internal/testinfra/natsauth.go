package testinfra

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// NATSUser is a user of a secured test server.
type NATSUser struct {
	Name, Password string
	// Permissions names the chart's permissions file (helm/sluice/files/nats/<name>.conf)
	// the user gets; empty: all permissions.
	Permissions string
	// NKey is a public user NKEY (U…), instead of a name and password.
	NKey string
}

// SecureNATSConfig returns a nats-server configuration with JetStream, one account SLUICE
// holding users, each with the chart's permissions of their service (PROVIDER replaced by
// provider), and TLS with tls (client certificates required when verify).
func SecureNATSConfig(t testing.TB, tls TLSFiles, verify bool, provider string, users ...NATSUser) func(addr, storeDir string) string {
	t.Helper()
	wd, _ := os.Getwd()
	root, err := RepoRoot(wd)
	if err != nil {
		t.Fatal(err)
	}
	var vars, list strings.Builder
	for _, u := range users {
		perm := ""
		if u.Permissions != "" {
			data, err := os.ReadFile(filepath.Join(root, "helm", "sluice", "files", "nats", u.Permissions+".conf"))
			if err != nil {
				t.Fatalf("permissions of %s: %v", u.Name, err)
			}
			v := "PERM_" + strings.NewReplacer("-", "_", ".", "_").Replace(u.Name)
			fmt.Fprintf(&vars, "%s = {\n%s\n}\n", v, strings.ReplaceAll(string(data), "PROVIDER", provider))
			perm = ", permissions: $" + v
		}
		if u.NKey != "" {
			fmt.Fprintf(&list, "      {nkey: %q%s}\n", u.NKey, perm)
			continue
		}
		fmt.Fprintf(&list, "      {user: %q, password: %q%s}\n", u.Name, u.Password, perm)
	}
	return func(addr, storeDir string) string {
		host, port, _ := strings.Cut(addr, ":")
		return fmt.Sprintf(`listen: %s:%s
jetstream { store_dir: %q }
tls {
  cert_file: %q
  key_file: %q
  ca_file: %q
  verify: %v
}
%s
accounts {
  SLUICE {
    jetstream: enabled
    users: [
%s    ]
  }
}
`, host, port, storeDir, tls.ServerCert, tls.ServerKey, tls.CA, verify, vars.String(), list.String())
	}
}
