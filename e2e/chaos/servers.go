package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sluice-dev/sluice/internal/testinfra"
)

// Server is a private server process (nats-server, postgres, FerretDB, versitygw) that a
// scenario may stop, kill and start again on the same port and data directory.
type Server struct {
	Name string
	// Addr is host:port of its client port.
	Addr string
	bin  string
	args []string
	dir  string // logs
	cred *syscall.Credential
	// stop is the signal of a graceful stop (postgres wants SIGINT for a fast shutdown).
	stop  syscall.Signal
	ready func(ctx context.Context) error

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Start runs the server and waits until it answers.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	if s.cmd != nil && !s.exited() {
		s.mu.Unlock()
		return fmt.Errorf("%s already running", s.Name)
	}
	logf, err := os.OpenFile(filepath.Join(s.dir, s.Name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	cmd := exec.Command(s.bin, s.args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: s.cred}
	if err := cmd.Start(); err != nil {
		logf.Close()
		s.mu.Unlock()
		return fmt.Errorf("start %s: %w", s.Name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()

	deadline := time.Now().Add(60 * time.Second)
	for {
		if s.exited() {
			return fmt.Errorf("%s exited during start; log %s", s.Name, filepath.Join(s.dir, s.Name+".log"))
		}
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := s.ready(cctx)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			s.Kill()
			return fmt.Errorf("%s not ready on %s: %v", s.Name, s.Addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *Server) exited() bool {
	if s.done == nil {
		return true
	}
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// Running reports whether the process is up.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.exited()
}

// Stop ends the server gracefully (killing it after 30 s).
func (s *Server) Stop() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, s.stop)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

// Kill ends the server at once, as a crash of its machine would.
func (s *Server) Kill() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-done
}

// ToolsDir is where deploy/local/infra.sh caches server binaries.
func ToolsDir() string {
	if d := os.Getenv("SLUICE_TOOLS_DIR"); d != "" {
		return d
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "sluice", "tools")
}

// Binaries of the private servers; the environment overrides each.
func ferretBin() string {
	return envOr("SLUICE_FERRETDB_BIN", filepath.Join(ToolsDir(), "ferretdb-v1.24.0", "bin", "ferretdb"))
}
func versityBin() string {
	return envOr("SLUICE_VERSITYGW_BIN", filepath.Join(ToolsDir(), "versitygw-v1.8.0", "bin", "versitygw"))
}
func pgBinDir() string { return testinfra.PGBinDir() }

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// MissingServers names the server binaries this machine lacks, for a skip or fail message.
func MissingServers() []string {
	var miss []string
	for _, p := range []string{testinfra.NATSServerBin(), ferretBin(), versityBin(), filepath.Join(pgBinDir(), "postgres"), filepath.Join(pgBinDir(), "initdb")} {
		if _, err := os.Stat(p); err != nil {
			miss = append(miss, p)
		}
	}
	return miss
}

// Ports are drawn below the kernel's ephemeral range (32768 and up), so an outgoing
// connection of another process cannot take a port between its choice here and the server's
// bind, and the same port is never handed out twice by one process.
var (
	portsMu sync.Mutex
	given   = map[int]bool{}
)

func freePort() (int, error) {
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 1000 {
		port := 20000 + rand.IntN(12000)
		if given[port] {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		l.Close()
		given[port] = true
		return port, nil
	}
	return 0, errors.New("no free port in 20000-32000")
}

func dialReady(addr string) func(context.Context) error {
	return func(ctx context.Context) error {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	}
}

func httpReady(url string) func(context.Context) error {
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", url, resp.Status)
		}
		return nil
	}
}

// NATS is a private JetStream server, or a cluster of them on loopback.
type NATS struct {
	Nodes []*Server
}

// URL is the comma-separated list of the nodes' client URLs, as services take it.
func (n *NATS) URL() string {
	var urls []string
	for _, s := range n.Nodes {
		urls = append(urls, "nats://"+s.Addr)
	}
	return strings.Join(urls, ",")
}

// Stop stops every node.
func (n *NATS) Stop() {
	for _, s := range n.Nodes {
		s.Stop()
	}
}

// NewNATS prepares (does not start) a JetStream server, or a cluster of size nodes, with
// stores under dir.
func NewNATS(dir string, size int) (*NATS, error) {
	n := &NATS{}
	var cports []int
	for range size {
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		cports = append(cports, p)
	}
	for i := range size {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		mport, err := freePort()
		if err != nil {
			return nil, err
		}
		name := "nats"
		if size > 1 {
			name = fmt.Sprintf("nats-%d", i+1)
		}
		store := filepath.Join(dir, name)
		if err := os.MkdirAll(store, 0o755); err != nil {
			return nil, err
		}
		args := []string{"-js", "-sd", store, "-a", "127.0.0.1", "-p", strconv.Itoa(port), "-m", strconv.Itoa(mport), "-n", name}
		if size > 1 {
			var routes []string
			for j, cp := range cports {
				if j != i {
					routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", cp))
				}
			}
			args = append(args, "--cluster_name", "sluice-chaos", "--cluster", fmt.Sprintf("nats://127.0.0.1:%d", cports[i]),
				"--routes", strings.Join(routes, ","))
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		ready := dialReady(addr)
		if size == 1 {
			ready = httpReady(fmt.Sprintf("http://127.0.0.1:%d/healthz?js-enabled-only=true", mport))
		}
		n.Nodes = append(n.Nodes, &Server{Name: name, Addr: addr, bin: testinfra.NATSServerBin(), args: args, dir: dir,
			stop: syscall.SIGTERM, ready: ready})
	}
	return n, nil
}

// Start starts every node.
func (n *NATS) Start(ctx context.Context) error {
	for _, s := range n.Nodes {
		if err := s.Start(ctx); err != nil {
			return err
		}
	}
	return nil
}

// NewPostgres initialises a private PostgreSQL cluster under a new directory of its own
// (initdb refuses root, so as root it runs as the postgres user) and returns its server,
// not started. Its URL has user sluice, trust auth.
func NewPostgres(ctx context.Context, logDir string) (*Server, string, func(), error) {
	dir, err := os.MkdirTemp("", "sluice-chaos-pg")
	if err != nil {
		return nil, "", nil, err
	}
	cleanup := func() { _ = os.RemoveAll(dir) }
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			cleanup()
			return nil, "", nil, fmt.Errorf("postgres as root needs the postgres user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			cleanup()
			return nil, "", nil, err
		}
	}
	initdb := exec.CommandContext(ctx, filepath.Join(pgBinDir(), "initdb"), "-D", filepath.Join(dir, "data"), "-A", "trust", "-U", "sluice", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		cleanup()
		return nil, "", nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	port, err := freePort()
	if err != nil {
		cleanup()
		return nil, "", nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	s := &Server{Name: "postgres", Addr: addr, bin: filepath.Join(pgBinDir(), "postgres"), dir: logDir, cred: cred,
		stop: syscall.SIGINT, ready: dialReady(addr),
		args: []string{"-D", filepath.Join(dir, "data"), "-p", strconv.Itoa(port), "-k", dir,
			"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=200", "-c", "shared_buffers=64MB"}}
	url := fmt.Sprintf("postgres://sluice@%s/postgres?sslmode=disable", addr)
	return s, url, cleanup, nil
}

// NewFerretDB prepares a private FerretDB (SQLite handler) with its data under dir.
func NewFerretDB(dir string) (*Server, string, error) {
	data := filepath.Join(dir, "ferretdb")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return nil, "", err
	}
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	s := &Server{Name: "ferretdb", Addr: addr, bin: ferretBin(), dir: dir, stop: syscall.SIGTERM, ready: dialReady(addr),
		args: []string{"--listen-addr", addr, "--handler", "sqlite", "--sqlite-url", "file:" + data + "/"}}
	return s, "mongodb://" + addr + "/", nil
}

// S3 credentials of the private versitygw.
const (
	S3AccessKey = "chaos"
	S3SecretKey = "chaos-secret-key"
)

// NewVersityGW prepares a private versitygw over a POSIX directory under dir.
func NewVersityGW(dir string) (*Server, string, error) {
	data := filepath.Join(dir, "s3")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return nil, "", err
	}
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	s := &Server{Name: "versitygw", Addr: addr, bin: versityBin(), dir: dir, stop: syscall.SIGTERM, ready: dialReady(addr),
		args: []string{"--access", S3AccessKey, "--secret", S3SecretKey, "--port", addr, "posix", data}}
	return s, "http://" + addr, nil
}

// Deps are the private dependencies of the services: the document store, the S3 server
// and PostgreSQL. They outlive trials; each trial uses databases and a bucket of its own.
type Deps struct {
	Postgres, Mongo, S3 *Server
	PostgresURL         string
	MongoURI            string
	S3Endpoint          string
	cleanup             []func()
}

// StartDeps starts private PostgreSQL, FerretDB and versitygw with logs and data in dir.
func StartDeps(ctx context.Context, dir string) (*Deps, error) {
	if miss := MissingServers(); len(miss) > 0 {
		return nil, fmt.Errorf("missing server binaries %v; install them with `make infra-up` (deploy/local/infra.sh up)", miss)
	}
	d := &Deps{}
	var err error
	var cleanup func()
	if d.Postgres, d.PostgresURL, cleanup, err = NewPostgres(ctx, dir); err != nil {
		return nil, err
	}
	d.cleanup = append(d.cleanup, cleanup)
	if d.Mongo, d.MongoURI, err = NewFerretDB(dir); err != nil {
		d.Close()
		return nil, err
	}
	if d.S3, d.S3Endpoint, err = NewVersityGW(dir); err != nil {
		d.Close()
		return nil, err
	}
	for _, s := range []*Server{d.Postgres, d.Mongo, d.S3} {
		if err := s.Start(ctx); err != nil {
			d.Close()
			return nil, err
		}
	}
	return d, nil
}

// Close stops the servers and removes what they stored outside dir.
func (d *Deps) Close() {
	var errs []error
	for _, s := range []*Server{d.Postgres, d.Mongo, d.S3} {
		if s != nil {
			s.Stop()
		}
	}
	for _, c := range d.cleanup {
		c()
	}
	_ = errors.Join(errs...)
}

// Dep names a dependency by what the services call it.
func (d *Deps) Dep(name string) *Server {
	switch name {
	case "postgres":
		return d.Postgres
	case "mongo":
		return d.Mongo
	case "s3":
		return d.S3
	}
	return nil
}
