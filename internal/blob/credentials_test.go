package blob

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadCredentials(t *testing.T) {
	t.Parallel()
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, creds    string
		env            map[string]string
		access, secret string
		err            string
	}{
		{"own pair", "", map[string]string{"SLUICE_S3_ACCESS_KEY": "a", "SLUICE_S3_SECRET_KEY": "s"}, "a", "s", ""},
		{"named pair", "backup", map[string]string{"SLUICE_S3_BACKUP_ACCESS_KEY": "a", "SLUICE_S3_BACKUP_SECRET_KEY": "s", "SLUICE_S3_ACCESS_KEY": "other"}, "a", "s", ""},
		{"secret from a file", "backup", map[string]string{"SLUICE_S3_BACKUP_ACCESS_KEY": "a", "SLUICE_S3_BACKUP_SECRET_KEY_FILE": secret}, "a", "from-file", ""},
		{"none", "backup", map[string]string{"SLUICE_S3_ACCESS_KEY": "a", "SLUICE_S3_SECRET_KEY": "s"}, "", "", ""},
		{"half a pair", "backup", map[string]string{"SLUICE_S3_BACKUP_ACCESS_KEY": "a"}, "", "", "SLUICE_S3_BACKUP_SECRET_KEY"},
		{"missing file", "backup", map[string]string{"SLUICE_S3_BACKUP_ACCESS_KEY_FILE": "/nonexistent/key"}, "", "", "SLUICE_S3_BACKUP_ACCESS_KEY_FILE"},
		{"bad name", "back-up", nil, "", "", "credentials"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ak, sk, err := LoadCredentials(func(k string) string { return c.env[k] }, c.creds)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one naming %q", err, c.err)
				}
				return
			}
			if err != nil || ak != c.access || sk != c.secret {
				t.Fatalf("got %q %q %v, want %q %q", ak, sk, err, c.access, c.secret)
			}
		})
	}
}
