package config

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const secretValue = "hunter2-very-secret"

func secretFlags(t *testing.T, args []string, env map[string]string) (string, NATS, error) {
	t.Helper()
	var key string
	var n NATS
	fs := NewFlagSet("test", func(k string) string { return env[k] }, io.Discard)
	fs.SecretVar(&key, "s3-secret-key", "SLUICE_S3_SECRET_KEY", "S3 secret key")
	n.Register(fs)
	err := fs.Parse(args)
	return key, n, err
}

func TestSecretsComeOnlyFromTheEnvironment(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(file, []byte(secretValue+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		args    []string
		env     map[string]string
		want    string
		wantErr string
	}{
		{"variable", nil, map[string]string{"SLUICE_S3_SECRET_KEY": secretValue}, secretValue, ""},
		{"file, trailing newline dropped", nil, map[string]string{"SLUICE_S3_SECRET_KEY_FILE": file}, secretValue, ""},
		{"variable wins over file", nil, map[string]string{"SLUICE_S3_SECRET_KEY": "direct", "SLUICE_S3_SECRET_KEY_FILE": file}, "direct", ""},
		{"missing file", nil, map[string]string{"SLUICE_S3_SECRET_KEY_FILE": file + ".nope"}, "", "SLUICE_S3_SECRET_KEY_FILE"},
		{"flag refused", []string{"--s3-secret-key", secretValue}, nil, "", "SLUICE_S3_SECRET_KEY or SLUICE_S3_SECRET_KEY_FILE"},
		{"flag with = refused", []string{"-s3-secret-key=" + secretValue}, nil, "", "secrets are not accepted as flags"},
		{"nats password flag refused", []string{"--nats-password=" + secretValue}, nil, "", "SLUICE_NATS_PASSWORD"},
		{"nats url with a password refused", []string{"--nats-url", "nats://u:" + secretValue + "@h:4222"}, nil, "", "--nats-url carries a password"},
		{"nats url with a token refused", []string{"--nats-url", "nats://" + secretValue + "@h:4222"}, nil, "", "--nats-url carries a password"},
		{"nats url with a password from the file", nil, map[string]string{"SLUICE_NATS_URL_FILE": file}, "", ""},
		{"nats url without credentials as a flag", []string{"--nats-url", "tls://h:4222"}, nil, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got, _, err := secretFlags(t, c.args, c.env)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("want an error naming %q, got %v", c.wantErr, err)
				}
				if strings.Contains(err.Error(), secretValue) {
					t.Fatalf("the error shows the secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Fatalf("got %q, want %q", got, c.want)
			}
		})
	}
}

func TestEnvFilesForProviderSecrets(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte(secretValue), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"A": "direct", "B_FILE": file, "C_FILE": file + ".missing"}
	e := NewEnvFiles(func(k string) string { return env[k] })
	if e.Getenv("A") != "direct" || e.Getenv("B") != secretValue || e.Getenv("D") != "" {
		t.Fatal("wrong values")
	}
	if e.Err() != nil {
		t.Fatalf("no error yet: %v", e.Err())
	}
	if e.Getenv("C") != "" || e.Err() == nil || !strings.Contains(e.Err().Error(), "C_FILE") {
		t.Fatalf("want an error naming C_FILE, got %v", e.Err())
	}
}

func TestNATSValidate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		n       NATS
		wantErr string
	}{
		{"no auth", NATS{URL: "nats://h:4222"}, ""},
		{"user and password", NATS{URL: "nats://h:4222", User: "u", Password: "p"}, ""},
		{"user without password", NATS{URL: "nats://h:4222", User: "u"}, "SLUICE_NATS_PASSWORD"},
		{"two methods", NATS{URL: "nats://h:4222", Token: "t", CredsFile: "/x.creds"}, "set one of"},
		{"cert without key", NATS{URL: "tls://h:4222", CertFile: "c.pem"}, "--nats-tls-key"},
		{"unparseable url hides its token", NATS{URL: "nats://" + secretValue + "@h:42 22"}, "not a URL"},
	}
	for _, c := range cases {
		err := c.n.Validate()
		if c.wantErr == "" && err != nil || c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)) {
			t.Errorf("%s: Validate() = %v, want %q", c.name, err, c.wantErr)
		}
		if err != nil && strings.Contains(err.Error(), secretValue) {
			t.Errorf("%s: error shows the secret: %v", c.name, err)
		}
	}
}
