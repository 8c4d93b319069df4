package testinfra

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// PGBinDir is where the machine's PostgreSQL binaries are (SLUICE_PG_BIN_DIR overrides).
func PGBinDir() string {
	if d := os.Getenv("SLUICE_PG_BIN_DIR"); d != "" {
		return d
	}
	return "/usr/lib/postgresql/15/bin"
}

// TLSPostgres is a private PostgreSQL cluster with TLS on, for one test.
type TLSPostgres struct {
	// Addr is its 127.0.0.1:port; Socket the directory of its unix socket.
	Addr, Socket string
	// AdminDSN connects as the superuser sluice over the unix socket (trust), a key=value
	// string as `sluice provision` takes it.
	AdminDSN string
}

// StartTLSPostgres initialises and starts a private PostgreSQL with ssl=on and the
// server certificate of tlsFiles; TCP connections must use TLS and a password
// (scram-sha-256), the unix socket trusts the superuser sluice. initdb refuses root, so as
// root the cluster runs as the postgres user. It stops when the test ends.
func StartTLSPostgres(t testing.TB, tlsFiles TLSFiles) *TLSPostgres {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: skipped with -short")
	}
	if _, err := os.Stat(filepath.Join(PGBinDir(), "initdb")); err != nil {
		msg := "integration test needs PostgreSQL's initdb in " + PGBinDir() + " (set SLUICE_PG_BIN_DIR)"
		if os.Getenv("SLUICE_INTEGRATION") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	dir, err := os.MkdirTemp("", "sluice-pg-tls")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	var cred *syscall.Credential
	uid, gid := os.Getuid(), os.Getgid()
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("postgres as root needs the postgres user: %v", err)
		}
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	// The server reads its key only when the key is its own and private.
	for name, src := range map[string]string{"server.crt": tlsFiles.ServerCert, "server.key": tlsFiles.ServerKey} {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{dir, filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")} {
		if err := os.Chown(p, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	data := filepath.Join(dir, "data")
	run := func(name string, args ...string) {
		cmd := exec.Command(filepath.Join(PGBinDir(), name), args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, out)
		}
	}
	run("initdb", "-D", data, "-A", "trust", "-U", "sluice", "--no-sync")
	hba := "local all all trust\nhostssl all all 127.0.0.1/32 scram-sha-256\nhostnossl all all 0.0.0.0/0 reject\n"
	if err := os.WriteFile(filepath.Join(data, "pg_hba.conf"), []byte(hba), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = os.Chown(filepath.Join(data, "pg_hba.conf"), uid, gid)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	logFile := filepath.Join(dir, "postgres.log")
	run("pg_ctl", "-D", data, "-l", logFile, "-w", "-t", "60", "start", "-o",
		fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c ssl=on -c ssl_cert_file=%s -c ssl_key_file=%s -c password_encryption=scram-sha-256",
			port, dir, filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")))
	t.Cleanup(func() {
		cmd := exec.Command(filepath.Join(PGBinDir(), "pg_ctl"), "-D", data, "-m", "immediate", "-w", "stop")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		_ = cmd.Run()
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logFile)
			t.Fatalf("postgres did not start: %v\n%s", err, log)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return &TLSPostgres{
		Addr: fmt.Sprintf("127.0.0.1:%d", port), Socket: dir,
		AdminDSN: fmt.Sprintf("host=%s port=%d user=sluice dbname=postgres sslmode=disable", dir, port),
	}
}
