package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluice-dev/sluice/internal/staging"
	"github.com/sluice-dev/sluice/internal/testinfra"
)

// privateNATS is a nats-server of the pinned version started for one benchmark, so that its
// durable consumers cannot meet a running demo's.
type privateNATS struct {
	URL  string
	cmd  *exec.Cmd
	done chan struct{}
}

// startNATS runs nats-server with JetStream in dir on a free loopback port.
func startNATS(dir string) (*privateNATS, error) {
	bin := testinfra.NATSServerBin()
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("nats-server not found at %s; run `make infra-up`", bin)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	logf, err := os.Create(filepath.Join(dir, "nats.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-js", "-sd", filepath.Join(dir, "js"), "-a", "127.0.0.1", "-p", strconv.Itoa(port))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start nats-server: %w", err)
	}
	n := &privateNATS{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); logf.Close(); close(n.done) }()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for deadline := time.Now().Add(15 * time.Second); ; {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			return nil, fmt.Errorf("nats-server on %s did not start", addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	n.URL = "nats://" + addr
	return n, nil
}

// stall freezes the server for d after a delay (SIGSTOP, SIGCONT): what a machine too busy
// to schedule it does. BENCH_STALL_NATS=1.5s stalls it during each replay.
func (n *privateNATS) stall(ctx context.Context, after, d time.Duration) {
	select {
	case <-ctx.Done():
		return
	case <-time.After(after):
	}
	_ = n.cmd.Process.Signal(syscall.SIGSTOP)
	time.Sleep(d)
	_ = n.cmd.Process.Signal(syscall.SIGCONT)
}

func (n *privateNATS) stop() {
	_ = n.cmd.Process.Signal(os.Interrupt)
	select {
	case <-n.done:
	case <-time.After(5 * time.Second):
		_ = n.cmd.Process.Kill()
		<-n.done
	}
}

// pipeline is the environment one load benchmark runs in: a private NATS, the local
// Postgres, FerretDB and S3, and a unique Mongo database.
type pipeline struct {
	env     *Env
	infra   testinfra.Env
	nats    *privateNATS
	nc      *nats.Conn
	js      jetstream.JetStream
	mongoDB string
	bucket  string
	logDir  string
}

func newPipeline(ctx context.Context, env *Env) (*pipeline, error) {
	infra := testinfra.Load()
	for _, addr := range []string{hostPort(infra.PostgresURL), hostPort(infra.MongoURI), hostPort(infra.S3Endpoint)} {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			return nil, fmt.Errorf("server %s: %w (start the local servers with `make infra-up`)", addr, err)
		}
		c.Close()
	}
	dir, err := os.MkdirTemp("", "sluice-bench-load")
	if err != nil {
		return nil, err
	}
	n, err := startNATS(dir)
	if err != nil {
		return nil, err
	}
	nc, err := nats.Connect(n.URL)
	if err != nil {
		n.stop()
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		n.stop()
		return nil, err
	}
	return &pipeline{env: env, infra: infra, nats: n, nc: nc, js: js, mongoDB: "sluice_bench_" + randHex(4), bucket: "sluice-bench", logDir: filepath.Join(dir, "log")}, nil
}

// dropStaging drops the run's staging database.
func (p *pipeline) dropStaging(ctx context.Context) error {
	store, err := staging.Open(ctx, staging.Config{URI: p.infra.MongoURI, Database: p.mongoDB})
	if err != nil {
		return err
	}
	defer store.Close(context.WithoutCancel(ctx)) //nolint:errcheck
	if err := store.Drop(ctx); err != nil {
		return fmt.Errorf("drop %s: %w", p.mongoDB, err)
	}
	return nil
}

func (p *pipeline) close() {
	if err := p.dropStaging(context.Background()); err != nil {
		p.env.Logf("%v", err)
	}
	p.nc.Close()
	p.nats.stop()
	if os.Getenv("BENCH_KEEP_LOGS") == "" {
		_ = os.RemoveAll(filepath.Dir(p.logDir))
	}
}

// serviceEnv is the environment every service process gets.
func (p *pipeline) serviceEnv(extra ...string) []string {
	env := []string{
		"SLUICE_NATS_URL=" + p.nats.URL,
		"SLUICE_HTTP_ADDR=127.0.0.1:0",
		"SLUICE_OTLP_ENDPOINT=",
		"SLUICE_LOG_FORMAT=text",
		"SLUICE_LOG_LEVEL=warn",
		"SLUICE_POSTGRES_URL=" + p.infra.PostgresURL,
		"SLUICE_MONGO_URI=" + p.infra.MongoURI,
		"SLUICE_MONGO_DATABASE=" + p.mongoDB,
		"SLUICE_MONGO_WRITE_CONCERN=1",
		"SLUICE_S3_ENDPOINT=" + p.infra.S3Endpoint,
		"SLUICE_S3_ACCESS_KEY=" + p.infra.S3AccessKey,
		"SLUICE_S3_SECRET_KEY=" + p.infra.S3SecretKey,
		"SLUICE_S3_REGION=" + p.infra.S3Region,
		"SLUICE_S3_BUCKET=" + p.bucket,
		"SLUICE_POSTGRES_MAX_CONNS=" + strconv.Itoa(loaderConns),
	}
	// BENCH_SERVICE_ENV="K=V …" tries a setting on every service process.
	env = append(env, strings.Fields(os.Getenv("BENCH_SERVICE_ENV"))...)
	return append(env, extra...)
}

// start runs one service binary.
func (p *pipeline) start(name string, extra ...string) (*testinfra.Proc, error) {
	return p.startBin(name, filepath.Join(p.env.Bin, name), extra...)
}

// startBin runs the service name from the binary bin.
func (p *pipeline) startBin(name, bin string, extra ...string) (*testinfra.Proc, error) {
	return testinfra.StartProc(name+"-"+randHex(2), bin, nil, p.serviceEnv(extra...), p.logDir)
}

// startStages runs staging-store, transformer and loader.
func (p *pipeline) startStages(extra ...string) (testinfra.Group, error) {
	var g testinfra.Group
	for _, name := range []string{"sluice-staging-store", "sluice-transformer", "sluice-loader"} {
		pr, err := p.start(name, extra...)
		if err != nil {
			_ = g.Stop(10 * time.Second)
			return nil, err
		}
		g = append(g, pr)
	}
	return g, nil
}

// drained waits until every named durable consumer has nothing pending and nothing
// unacknowledged and has acked its stream up to minSeq, and then check passes. It returns the
// time the first of them received its first message (the start of the work) and the time
// the last one drained.
func (p *pipeline) drained(ctx context.Context, timeout time.Duration, watch []procWatch, check func(context.Context) (bool, error), consumers ...consumerRef) (first, last time.Time, err error) {
	deadline := time.Now().Add(timeout)
	finished := make([]time.Duration, len(consumers))
	// seen is each consumer's first state, the origin of its rate.
	seen := make([]struct {
		at    time.Time
		acked uint64
	}, len(consumers))
	defer func() {
		if err == nil && len(consumers) > 1 {
			var parts []string
			for i, c := range consumers {
				parts = append(parts, fmt.Sprintf("%s %v", c.durable, finished[i].Round(time.Millisecond)))
			}
			p.env.Logf("  consumers drained after: %s", strings.Join(parts, ", "))
		}
	}()
	nextReport := time.Now().Add(15 * time.Second)
	for {
		done := true
		// Polling costs the machine that is being measured (a consumer-info request per
		// consumer): poll rarely while much is left and every 10 ms near the end.
		var left time.Duration
		// A slow drain says why: what each consumer holds, and what it got again.
		report := time.Now().After(nextReport)
		if report {
			nextReport = time.Now().Add(15 * time.Second)
		}
		for i, c := range consumers {
			info, err := p.js.Consumer(ctx, c.stream, c.durable)
			if err != nil {
				// Not created yet, or the server slow to answer on a saturated machine
				// (the request's own timeout): ask again.
				if errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
					done = false
					continue
				}
				return first, last, err
			}
			ci := info.CachedInfo()
			if report {
				p.env.Logf("  still draining %s: delivered %d, ack floor %d, pending %d, ack pending %d, redelivered %d, waiting pulls %d",
					c.durable, ci.Delivered.Stream, ci.AckFloor.Stream, ci.NumPending, ci.NumAckPending, ci.NumRedelivered, ci.NumWaiting)
			}
			if first.IsZero() && ci.Delivered.Stream > 0 {
				first = time.Now()
			}
			if ci.NumPending > 0 || ci.NumAckPending > 0 || ci.AckFloor.Stream < c.minSeq {
				done = false
				finished[i] = 0
				if seen[i].at.IsZero() {
					seen[i].at, seen[i].acked = time.Now(), ci.AckFloor.Stream
				}
				left = max(left, remaining(ci, seen[i].acked, time.Since(seen[i].at)))
			} else if finished[i] == 0 && !first.IsZero() {
				finished[i] = time.Since(first)
			}
		}
		if done && check != nil {
			if done, err = check(ctx); err != nil {
				return first, last, err
			}
		}
		if done {
			return first, time.Now(), nil
		}
		for _, w := range watch {
			if exited, _ := w.proc.Exited(); exited {
				return first, last, fmt.Errorf("%s exited early:\n%s", w.proc.Name, w.proc.Tail(2000))
			}
		}
		if time.Now().After(deadline) {
			return first, last, fmt.Errorf("consumers did not drain within %v", timeout)
		}
		select {
		case <-ctx.Done():
			return first, last, ctx.Err()
		case <-time.After(min(max(left/16, 10*time.Millisecond), 100*time.Millisecond)):
		}
	}
}

// remaining estimates how long a consumer needs for what it has not acked, at the rate
// its ack floor moved since it stood at from, elapsed ago; zero when it has not moved.
func remaining(ci *jetstream.ConsumerInfo, from uint64, elapsed time.Duration) time.Duration {
	if ci.AckFloor.Stream <= from || elapsed <= 0 {
		return 0
	}
	left := ci.NumPending + uint64(ci.NumAckPending)
	return time.Duration(float64(elapsed) * float64(left) / float64(ci.AckFloor.Stream-from))
}

type consumerRef struct {
	stream, durable string
	// minSeq is the stream sequence the consumer must have acked at least.
	minSeq uint64
}

type procWatch struct{ proc *testinfra.Proc }

// peakRSSMB reads the high-water mark of a process's resident set (VmHWM) in MiB.
func peakRSSMB(pid int) (float64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			if err != nil {
				return 0, fmt.Errorf("VmHWM %q: %w", rest, err)
			}
			return kb / 1024, nil
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func hostPort(raw string) string {
	if i := strings.Index(raw, "://"); i >= 0 {
		raw = raw[i+3:]
	}
	if i := strings.IndexAny(raw, "/?"); i >= 0 {
		raw = raw[:i]
	}
	if i := strings.LastIndex(raw, "@"); i >= 0 {
		raw = raw[i+1:]
	}
	return raw
}
