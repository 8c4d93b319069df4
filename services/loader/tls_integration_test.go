package main

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluice-dev/sluice/internal/servicetest"
	"github.com/sluice-dev/sluice/internal/testinfra"
)

const loaderPassword = "l0ader-Pa55-never-shown"

// TestLoaderOverVerifiedTLSAsALeastPrivilegedRole runs against a private PostgreSQL that
// accepts TCP only over TLS with a certificate of a CA generated here. `sluice provision`
// with the admin key=value string (not the loader's URL) creates the loader's role; the
// loader connects as it with sslmode=verify-full and becomes ready, refuses a server its
// CA did not sign, and the role can create and write its own tables but not another's,
// nor create roles.
func TestLoaderOverVerifiedTLSAsALeastPrivilegedRole(t *testing.T) {
	tlsFiles := testinfra.GenerateTLS(t, t.TempDir())
	pg := testinfra.StartTLSPostgres(t, tlsFiles)
	natsURL, _ := servicetest.JetStream(t)
	bin := testinfra.Binaries(t, "sluice-loader", "sluice")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "loader-password")
	if err := os.WriteFile(pwFile, []byte(loaderPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	prov := exec.CommandContext(ctx, filepath.Join(bin, "sluice"), "provision", "--loader-role", "loader", "--reader-role", "reader")
	prov.Env = append(os.Environ(), "SLUICE_NATS_URL="+natsURL, "SLUICE_POSTGRES_ADMIN_URL="+pg.AdminDSN, "SLUICE_LOADER_PASSWORD_FILE="+pwFile)
	if out, err := prov.CombinedOutput(); err != nil || strings.Contains(string(out), loaderPassword) {
		t.Fatalf("sluice provision: %v\n%s", err, out)
	}

	admin, err := pgx.Connect(ctx, pg.AdminDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE TABLE admin_only (id int)"); err != nil {
		t.Fatal(err)
	}

	loaderURL := func(ca string) string {
		u := url.URL{Scheme: "postgres", User: url.UserPassword("loader", loaderPassword), Host: pg.Addr, Path: "/postgres",
			RawQuery: url.Values{"sslmode": {"verify-full"}, "sslrootcert": {ca}}.Encode()}
		return u.String()
	}
	startLoader := func(name, pgURL string) *testinfra.Proc {
		t.Helper()
		f := filepath.Join(dir, name+"-url")
		if err := os.WriteFile(f, []byte(pgURL), 0o600); err != nil {
			t.Fatal(err)
		}
		p, err := testinfra.StartProc(name, filepath.Join(bin, "sluice-loader"), nil, []string{
			"SLUICE_NATS_URL=" + natsURL, "SLUICE_HTTP_ADDR=127.0.0.1:0", "SLUICE_LOG_FORMAT=text",
			"SLUICE_POSTGRES_URL=", "SLUICE_POSTGRES_URL_FILE=" + f}, dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.Stop(20 * time.Second) })
		return p
	}
	// started waits until the loader's /readyz answers 200 (PostgreSQL included), or
	// its exit.
	httpAddr := regexp.MustCompile(`http=(127\.0\.0\.1:\d+)`)
	started := func(p *testinfra.Proc) (bool, string) {
		t.Helper()
		for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			log, _ := os.ReadFile(p.LogPath)
			if m := httpAddr.FindSubmatch(log); m != nil {
				if resp, err := http.Get("http://" + string(m[1]) + "/readyz"); err == nil {
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						return true, string(log)
					}
				}
			}
			if exited, _ := p.Exited(); exited {
				log, _ := os.ReadFile(p.LogPath)
				return false, string(log)
			}
		}
		t.Fatalf("%s neither started nor exited", p.Name)
		return false, ""
	}

	if ok, log := started(startLoader("loader-verified", loaderURL(tlsFiles.CA))); !ok {
		t.Fatalf("the loader did not start over verified TLS:\n%s", log)
	}
	ok, log := started(startLoader("loader-foreign-ca", loaderURL(tlsFiles.OtherCA)))
	if ok || !strings.Contains(log, "certificate signed by unknown authority") {
		t.Fatalf("a server of another CA must be refused; started=%v:\n%s", ok, log)
	}
	if strings.Contains(log, loaderPassword) {
		t.Fatalf("the loader's error shows its password:\n%s", log)
	}

	conn, err := pgx.Connect(ctx, loaderURL(tlsFiles.CA))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var tlsOn bool
	if err := conn.QueryRow(ctx, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&tlsOn); err != nil || !tlsOn {
		t.Fatalf("the loader's connection is not TLS: %v %v", tlsOn, err)
	}
	for _, c := range []struct {
		sql     string
		refused bool
	}{
		{"CREATE TABLE loaded (id int PRIMARY KEY, v text)", false},
		{"INSERT INTO loaded VALUES (1, 'a') ON CONFLICT (id) DO UPDATE SET v = excluded.v", false},
		{"INSERT INTO admin_only VALUES (1)", true},
		{"DELETE FROM admin_only", true},
		{"CREATE ROLE intruder", true},
		{"CREATE DATABASE other", true},
	} {
		_, err := conn.Exec(ctx, c.sql)
		if (err != nil) != c.refused {
			t.Errorf("%s as the loader: err %v, want refused=%v", c.sql, err, c.refused)
		}
	}
	var readable bool
	if err := admin.QueryRow(ctx, "SELECT has_table_privilege('reader', 'loaded', 'select')").Scan(&readable); err != nil || !readable {
		t.Errorf("the reader role cannot read the loader's table: %v %v", readable, err)
	}
}
