package ratelimit

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// startServer runs an embedded NATS server with JetStream for one test.
func startServer(t testing.TB) string {
	t.Helper()
	s, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
	})
	if err != nil {
		t.Fatalf("nats server: %v", err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(s.Shutdown)
	return s.ClientURL()
}

// connect opens a connection of its own (one per simulated replica).
func connect(t testing.TB, url string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	return nc, js
}

var nsSeq atomic.Int64

// uniqueNamespace returns a namespace no other test or run uses.
func uniqueNamespace(t testing.TB) string {
	name := strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())
	return fmt.Sprintf("test-%s-%d-%d", name, time.Now().UnixNano(), nsSeq.Add(1))
}

// replicas starts n governors on separate connections sharing cfg.
func replicas(t testing.TB, url string, n int, cfg Config) []*Governor {
	t.Helper()
	gs := make([]*Governor, n)
	for i := range gs {
		_, js := connect(t, url)
		c := cfg
		c.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
		g, err := New(context.Background(), js, c)
		if err != nil {
			t.Fatalf("governor %d: %v", i, err)
		}
		t.Cleanup(func() { g.Close() })
		gs[i] = g
	}
	return gs
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// maxInWindow returns the largest number of times within any window [t, t+w).
func maxInWindow(times []time.Time, w time.Duration) int {
	best := 0
	j := 0
	for i := range times {
		for j < len(times) && times[j].Sub(times[i]) < w {
			j++
		}
		best = max(best, j-i)
	}
	return best
}
