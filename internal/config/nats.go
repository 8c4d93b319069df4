package config

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/sluice-dev/sluice/internal/redact"
)

// NATS is how a process reaches and authenticates to NATS. At most one of user and
// password, token, NKEY seed file and credentials file (a user JWT with its seed) is
// used; TLS is on when a CA, a client certificate or a tls:// URL is given.
type NATS struct {
	URL      string
	User     string
	Password string // secret: SLUICE_NATS_PASSWORD or its _FILE
	Token    string // secret: SLUICE_NATS_TOKEN or its _FILE
	// NKeyFile is a file holding an NKEY user seed (SU…).
	NKeyFile string
	// CredsFile is a .creds file (user JWT and seed) of an operator/JWT deployment.
	CredsFile string
	// CAFile verifies the server's certificate; CertFile and KeyFile are the client's.
	CAFile, CertFile, KeyFile string
}

// Register defines --nats-url, the auth and the TLS flags.
func (n *NATS) Register(fs *FlagSet) {
	n.RegisterURL(fs, "nats://127.0.0.1:4222", "NATS server URL(s), comma separated")
}

// RegisterURL is Register with the URL's default and help of the caller (the CLI's).
func (n *NATS) RegisterURL(fs *FlagSet, def, usage string) {
	fs.ConnStringVar(&n.URL, "nats-url", "SLUICE_NATS_URL", def, usage, redact.URLHasCredentials)
	fs.StringVar(&n.User, "nats-user", "SLUICE_NATS_USER", "", "NATS user (its password in SLUICE_NATS_PASSWORD or SLUICE_NATS_PASSWORD_FILE)")
	fs.SecretVar(&n.Password, "nats-password", "SLUICE_NATS_PASSWORD", "password of --nats-user")
	fs.SecretVar(&n.Token, "nats-token", "SLUICE_NATS_TOKEN", "NATS authentication token")
	fs.StringVar(&n.NKeyFile, "nats-nkey-file", "SLUICE_NATS_NKEY_FILE", "", "file holding the NKEY user seed")
	fs.StringVar(&n.CredsFile, "nats-creds-file", "SLUICE_NATS_CREDS_FILE", "", "NATS credentials file (user JWT and NKEY seed)")
	fs.StringVar(&n.CAFile, "nats-tls-ca", "SLUICE_NATS_TLS_CA", "", "CA certificate (PEM) that verifies the NATS server; turns TLS on")
	fs.StringVar(&n.CertFile, "nats-tls-cert", "SLUICE_NATS_TLS_CERT", "", "client certificate (PEM) for NATS TLS")
	fs.StringVar(&n.KeyFile, "nats-tls-key", "SLUICE_NATS_TLS_KEY", "", "client key (PEM) of --nats-tls-cert")
}

// TLS reports whether the connection uses TLS.
func (n NATS) TLS() bool {
	return n.CAFile != "" || n.CertFile != "" || strings.Contains(n.URL, "tls://") || strings.Contains(n.URL, "wss://")
}

// Validate names every wrong field.
func (n NATS) Validate() error {
	var errs []error
	if err := ValidateNATSURL(n.URL); err != nil {
		errs = append(errs, fmt.Errorf("--nats-url / SLUICE_NATS_URL: %w", err))
	}
	methods := 0
	for _, set := range []bool{n.User != "" || n.Password != "", n.Token != "", n.NKeyFile != "", n.CredsFile != ""} {
		if set {
			methods++
		}
	}
	if methods > 1 {
		errs = append(errs, errors.New("NATS auth: set one of --nats-user with SLUICE_NATS_PASSWORD, SLUICE_NATS_TOKEN, --nats-nkey-file or --nats-creds-file"))
	}
	if (n.User == "") != (n.Password == "") {
		errs = append(errs, errors.New("--nats-user / SLUICE_NATS_USER and SLUICE_NATS_PASSWORD (or _FILE) must be set together"))
	}
	if (n.CertFile == "") != (n.KeyFile == "") {
		errs = append(errs, errors.New("--nats-tls-cert and --nats-tls-key must be set together"))
	}
	return errors.Join(errs...)
}

// ValidateNATSURL checks a comma-separated list of nats://, tls://, ws:// or wss:// URLs;
// errors show them redacted.
func ValidateNATSURL(raw string) error {
	if raw == "" {
		return errors.New("empty")
	}
	for _, part := range strings.Split(raw, ",") {
		shown := redact.RawURL(strings.TrimSpace(part))
		u, err := url.Parse(strings.TrimSpace(part))
		if err != nil {
			// url.Parse's error quotes the URL: a token or password would show.
			return fmt.Errorf("%s: not a URL", shown)
		}
		if u.Scheme != "nats" && u.Scheme != "tls" && u.Scheme != "ws" && u.Scheme != "wss" {
			return fmt.Errorf("%s: scheme must be nats://, tls://, ws:// or wss://", shown)
		}
		if u.Host == "" {
			return fmt.Errorf("%s: no host", shown)
		}
	}
	return nil
}
