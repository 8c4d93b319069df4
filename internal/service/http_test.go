package service

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

// /readyz answers 503 and names every failing check; before, the body went out first and
// the status stayed 200, so a paused stage looked ready.
func TestReadyzFailsWithTheReasons(t *testing.T) {
	ep, err := NewEndpoint("127.0.0.1:0", http.NotFoundHandler())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ep.Serve(ctx, slog.New(slog.DiscardHandler)) }()
	defer func() { cancel(); <-done }()

	var down atomic.Bool
	ep.AddCheck("nats", func(context.Context) error { return nil })
	ep.AddCheck("consumer", func(context.Context) error {
		if down.Load() {
			return errors.New("paused, waiting for postgres")
		}
		return nil
	})
	for _, tc := range []struct {
		down   bool
		status int
		body   string
	}{
		{false, http.StatusOK, "ready"},
		{true, http.StatusServiceUnavailable, "consumer: paused, waiting for postgres"},
	} {
		down.Store(tc.down)
		resp, err := http.Get("http://" + ep.Addr() + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.body) {
			t.Errorf("down=%v: %d %q, want %d with %q", tc.down, resp.StatusCode, body, tc.status, tc.body)
		}
	}
}

// TestListenersAreApart: profiles are served only by their own listener, and the health
// endpoint serves neither profiles nor (when metrics have their own listener) metrics.
func TestListenersAreApart(t *testing.T) {
	ep, err := NewEndpoint("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	metrics := http.NewServeMux()
	metrics.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "up 1\n") })
	ml, err := Listen("127.0.0.1:0", metrics)
	if err != nil {
		t.Fatal(err)
	}
	pl, err := Listen("127.0.0.1:0", PprofHandler())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 3)
	for _, l := range []*Listener{ep.Listener, ml, pl} {
		go func() { done <- l.Serve(ctx, slog.New(slog.DiscardHandler)) }()
	}
	defer func() {
		cancel()
		for range 3 {
			<-done
		}
	}()
	status := func(addr, path string) int {
		t.Helper()
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, c := range []struct {
		addr, path string
		want       int
	}{
		{ep.Addr(), "/healthz", 200},
		{ep.Addr(), "/metrics", 404},
		{ep.Addr(), "/debug/pprof/", 404},
		{ml.Addr(), "/metrics", 200},
		{ml.Addr(), "/debug/pprof/", 404},
		{ml.Addr(), "/healthz", 404},
		{pl.Addr(), "/debug/pprof/", 200},
		{pl.Addr(), "/metrics", 404},
	} {
		if got := status(c.addr, c.path); got != c.want {
			t.Errorf("GET %s on %s: %d, want %d", c.path, c.addr, got, c.want)
		}
	}
}
