package pgload

import (
	"errors"

	"github.com/jackc/pgx/v5/pgconn"
)

// ErrUnverifiedTLS is a connection string whose TLS would not verify the server: sslmode
// allow, prefer (libpq's default when sslmode is absent) or require. Such a link is
// encrypted, but anyone on the path can pose as the database and read every row.
var ErrUnverifiedTLS = errors.New("sslmode encrypts without verifying the server (allow, prefer, require, or no sslmode): use sslmode=verify-full with sslrootcert=<CA file>, or sslmode=disable on a trusted local link")

// CheckTLS accepts a configuration that either does not use TLS (sslmode=disable: a
// decision, e.g. a unix socket or a sidecar) or verifies the server's certificate
// (verify-ca, verify-full), and refuses one that would fall back to plain text or encrypt
// without verifying.
func CheckTLS(cfg *pgconn.Config) error {
	for _, fb := range append([]*pgconn.FallbackConfig{{Host: cfg.Host, Port: cfg.Port, TLSConfig: cfg.TLSConfig}}, cfg.Fallbacks...) {
		if (fb.TLSConfig == nil) != (cfg.TLSConfig == nil) {
			return ErrUnverifiedTLS // prefer or allow: one attempt with TLS, one without
		}
		if tc := fb.TLSConfig; tc != nil && tc.InsecureSkipVerify && tc.VerifyPeerCertificate == nil {
			return ErrUnverifiedTLS // require
		}
	}
	return nil
}
