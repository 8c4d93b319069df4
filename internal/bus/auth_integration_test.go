package bus

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/sluice-dev/sluice/internal/config"
	"github.com/sluice-dev/sluice/internal/testinfra"
)

const natsPassword = "n4ts-Pa55-do-not-show"

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// connectAs connects with cfg as the process named name and fails the test if that is
// refused.
func connectAs(t *testing.T, cfg config.NATS, name string) *nats.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	nc, _, err := Connect(ctx, cfg, name, quiet())
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// refused connects with cfg and wants an error containing want, never the password.
func refused(t *testing.T, cfg config.NATS, want string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	nc, _, err := Connect(ctx, cfg, "auth-test", quiet())
	if err == nil {
		nc.Close()
		t.Fatalf("connect succeeded, want it refused (%s)", want)
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("want an error containing %q, got %v", want, err)
	}
	if strings.Contains(err.Error(), natsPassword) || strings.Contains(err.Error(), cfg.Password+"@") && cfg.Password != "" {
		t.Fatalf("the error shows the secret: %v", err)
	}
}

func writeTemp(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestNATSAuthAndTLS connects through the one shared Connect with each auth method to a
// real nats-server configured with accounts, users and TLS requiring client certificates,
// and checks that wrong credentials, a missing client certificate and a server signed by
// another CA are refused.
func TestNATSAuthAndTLS(t *testing.T) {
	dir := t.TempDir()
	tls := testinfra.GenerateTLS(t, dir)
	nkey, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := nkey.PublicKey()
	seed, _ := nkey.Seed()
	otherKey, _ := nkeys.CreateUser()
	otherSeed, _ := otherKey.Seed()
	srv := testinfra.StartNATSConfig(t, testinfra.SecureNATSConfig(t, tls, true, "",
		testinfra.NATSUser{Name: "svc", Password: natsPassword}, testinfra.NATSUser{NKey: pub}))
	mtls := config.NATS{URL: srv.URL, CAFile: tls.CA, CertFile: tls.ClientCert, KeyFile: tls.ClientKey}
	with := func(f func(*config.NATS)) config.NATS { c := mtls; f(&c); return c }

	t.Run("user and password over mutual TLS", func(t *testing.T) {
		connectAs(t, with(func(c *config.NATS) { c.User, c.Password = "svc", natsPassword }), "svc")
	})
	t.Run("nkey seed file", func(t *testing.T) {
		connectAs(t, with(func(c *config.NATS) { c.NKeyFile = writeTemp(t, "user.nk", seed) }), "svc")
	})
	t.Run("wrong password", func(t *testing.T) {
		refused(t, with(func(c *config.NATS) { c.User, c.Password = "svc", "wrong-"+natsPassword }), "Authorization Violation")
	})
	t.Run("unknown nkey", func(t *testing.T) {
		refused(t, with(func(c *config.NATS) { c.NKeyFile = writeTemp(t, "other.nk", otherSeed) }), "Authorization Violation")
	})
	t.Run("no credentials", func(t *testing.T) {
		refused(t, mtls, "Authorization Violation")
	})
	t.Run("no client certificate", func(t *testing.T) {
		refused(t, config.NATS{URL: srv.URL, CAFile: tls.CA, User: "svc", Password: natsPassword}, "connect nats")
	})
	t.Run("server of another CA", func(t *testing.T) {
		refused(t, with(func(c *config.NATS) { c.CAFile, c.User, c.Password = tls.OtherCA, "svc", natsPassword }), "certificate signed by unknown authority")
	})
	t.Run("password in the URL is not shown", func(t *testing.T) {
		refused(t, with(func(c *config.NATS) {
			c.URL = "tls://svc:" + natsPassword + "x@" + strings.TrimPrefix(srv.URL, "tls://")
		}), "connect nats tls://")
	})
}

// TestNATSTokenAuth connects with a token over TLS; a wrong token is refused.
func TestNATSTokenAuth(t *testing.T) {
	tls := testinfra.GenerateTLS(t, t.TempDir())
	srv := testinfra.StartNATSConfig(t, func(addr, store string) string {
		return fmt.Sprintf("listen: %s\njetstream { store_dir: %q }\nauthorization { token: %q }\ntls { cert_file: %q, key_file: %q }\n",
			addr, store, natsPassword, tls.ServerCert, tls.ServerKey)
	})
	connectAs(t, config.NATS{URL: srv.URL, CAFile: tls.CA, Token: natsPassword}, "svc")
	refused(t, config.NATS{URL: srv.URL, CAFile: tls.CA, Token: "not-" + natsPassword}, "Authorization Violation")
}

// TestNATSCredsFileAuth runs the server in operator (JWT) mode: a credentials file of a
// user signed by the account connects; one signed by an account the operator never
// issued is refused.
func TestNATSCredsFileAuth(t *testing.T) {
	tls := testinfra.GenerateTLS(t, t.TempDir())
	op, _ := nkeys.CreateOperator()
	opPub, _ := op.PublicKey()
	opJWT, err := jwt.NewOperatorClaims(opPub).Encode(op)
	if err != nil {
		t.Fatal(err)
	}
	account := func(signer nkeys.KeyPair, js bool) (nkeys.KeyPair, string, string) {
		acc, _ := nkeys.CreateAccount()
		accPub, _ := acc.PublicKey()
		ac := jwt.NewAccountClaims(accPub)
		if js {
			ac.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
		}
		accJWT, err := ac.Encode(signer)
		if err != nil {
			t.Fatal(err)
		}
		return acc, accPub, accJWT
	}
	creds := func(acc nkeys.KeyPair) string {
		u, _ := nkeys.CreateUser()
		uPub, _ := u.PublicKey()
		uJWT, err := jwt.NewUserClaims(uPub).Encode(acc)
		if err != nil {
			t.Fatal(err)
		}
		seed, _ := u.Seed()
		data, err := jwt.FormatUserConfig(uJWT, seed)
		if err != nil {
			t.Fatal(err)
		}
		return writeTemp(t, "user.creds", data)
	}
	acc, accPub, accJWT := account(op, true)
	_, sysPub, sysJWT := account(op, false)
	rogueOp, _ := nkeys.CreateOperator()
	rogue, _, _ := account(rogueOp, true)
	srv := testinfra.StartNATSConfig(t, func(addr, store string) string {
		return fmt.Sprintf("listen: %s\njetstream { store_dir: %q }\noperator: %q\nsystem_account: %s\nresolver: MEMORY\nresolver_preload: { %s: %q, %s: %q }\ntls { cert_file: %q, key_file: %q }\n",
			addr, store, opJWT, sysPub, accPub, accJWT, sysPub, sysJWT, tls.ServerCert, tls.ServerKey)
	})
	connectAs(t, config.NATS{URL: srv.URL, CAFile: tls.CA, CredsFile: creds(acc)}, "svc")
	refused(t, config.NATS{URL: srv.URL, CAFile: tls.CA, CredsFile: creds(rogue)}, "Authorization Violation")
}

// violation publishes (or subscribes) on subject as nc's user and reports whether the
// server refused it for permissions.
func violation(t *testing.T, nc *nats.Conn, subscribe bool, subject string) bool {
	t.Helper()
	errs := make(chan error, 4)
	nc.SetErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err })
	if subscribe {
		sub, err := nc.SubscribeSync(subject)
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Unsubscribe()
	} else if err := nc.Publish(subject, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errs:
		return strings.Contains(err.Error(), "Permissions Violation")
	case <-time.After(time.Second):
		return false
	}
}

// TestServicePermissions gives each service's user the chart's permissions file on a real
// nats-server and checks that each may do its own work and is refused outside it: only
// the extractor (and the admin) write the specs bucket, an extractor publishes only its
// own provider's records, no service publishes another stage's subjects or creates streams.
func TestServicePermissions(t *testing.T) {
	tls := testinfra.GenerateTLS(t, t.TempDir())
	users := []testinfra.NATSUser{{Name: "admin", Password: natsPassword, Permissions: "admin"}}
	for _, s := range []string{"extractor-acme", "staging-store", "transformer", "loader"} {
		users = append(users, testinfra.NATSUser{Name: s, Password: natsPassword, Permissions: strings.TrimSuffix(s, "-acme")})
	}
	srv := testinfra.StartNATSConfig(t, testinfra.SecureNATSConfig(t, tls, false, "acme", users...))
	as := func(user string) config.NATS {
		return config.NATS{URL: srv.URL, CAFile: tls.CA, User: user, Password: natsPassword}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin, ajs, err := Connect(ctx, as("admin"), "admin", quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if err := Provision(ctx, ajs, DefaultProvision()); err != nil {
		t.Fatalf("admin provisions: %v", err)
	}
	cases := []struct {
		user, subject string
		subscribe     bool
		refused       bool
	}{
		{"extractor-acme", "$KV.sluice-specs.acme.ds", false, false},
		{"extractor-acme", "sluice.raw.acme.ds", false, false},
		{"extractor-acme", "sluice.raw.other.ds", false, true},
		{"extractor-acme", "sluice.task.other", false, true},
		{"extractor-acme", "$KV.sluice-limits.other.q.x", false, true},
		{"extractor-acme", "sluice.raw.>", true, true},
		{"staging-store", "sluice.staged.acme.ds", false, false},
		{"staging-store", "$KV.sluice-specs.acme.ds", false, true},
		{"staging-store", "sluice.rows.t", false, true},
		{"transformer", "sluice.rows.t", false, false},
		{"transformer", "$KV.sluice-specs.acme.ds", false, true},
		{"transformer", "sluice.staged.acme.ds", false, true},
		{"loader", "sluice.dlq.load.acme.ds", false, false},
		{"loader", "$KV.sluice-specs.acme.ds", false, true},
		{"loader", "sluice.dlq.extract.acme.ds", false, true},
		{"loader", "$JS.API.STREAM.CREATE.EVIL", false, true},
		{"loader", "$JS.API.STREAM.DELETE.ROWS", false, true},
		{"loader", "$JS.API.CONSUMER.MSG.NEXT.RAW.staging-store", false, true},
		{"loader", "$KV.sluice-deliveries.transformer.1", false, true},
		{"loader", "_INBOX.transformer.>", true, true},
		{"loader", "_INBOX.>", true, true},
		{"admin", "$KV.sluice-specs.acme.ds", false, false},
	}
	conns := map[string]*nats.Conn{}
	for _, u := range users {
		conns[u.Name] = connectAs(t, as(u.Name), u.Name)
	}
	for _, c := range cases {
		t.Run(c.user+" "+c.subject, func(t *testing.T) {
			nc := conns[c.user]
			if got := violation(t, nc, c.subscribe, c.subject); got != c.refused {
				t.Fatalf("refused = %v, want %v", got, c.refused)
			}
		})
	}
}
