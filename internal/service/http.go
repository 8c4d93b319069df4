package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"
)

// Check reports whether a dependency is usable; nil means ready.
type Check func(ctx context.Context) error

// Endpoint is the operational HTTP server of a service: /healthz (the process is alive),
// /readyz (every readiness check passes) and /metrics.
type Endpoint struct {
	mux    *http.ServeMux
	mu     sync.Mutex
	checks map[string]Check
	*Listener
}

// Listener is one HTTP server of a service on an address of its own: health, metrics and
// profiles each get one, so that each can be exposed (or not) on its own.
type Listener struct {
	srv *http.Server
	ln  net.Listener
}

// Listen listens on addr at once, so a port conflict fails the start of the service.
func Listen(addr string, h http.Handler) (*Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	return &Listener{srv: &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}, ln: ln}, nil
}

// Close closes a listener that will not be served.
func (l *Listener) Close() { _ = l.ln.Close() }

// Addr is where the listener listens (useful with port 0).
func (l *Listener) Addr() string { return l.ln.Addr().String() }

// NewEndpoint listens on addr at once, so a port conflict fails the start of the service;
// metrics, when not nil, is served at /metrics on the same address.
func NewEndpoint(addr string, metrics http.Handler) (*Endpoint, error) {
	e := &Endpoint{mux: http.NewServeMux(), checks: map[string]Check{}}
	l, err := Listen(addr, e.mux)
	if err != nil {
		return nil, err
	}
	e.Listener = l
	e.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	e.mux.HandleFunc("GET /readyz", e.ready)
	if metrics != nil {
		e.mux.Handle("GET /metrics", metrics)
	}
	return e, nil
}

// Handle adds a route, e.g. a service-specific admin page.
func (e *Endpoint) Handle(pattern string, h http.Handler) { e.mux.Handle(pattern, h) }

// AddCheck registers a readiness check.
func (e *Endpoint) AddCheck(name string, c Check) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.checks[name] = c
}

func (e *Endpoint) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	e.mu.Lock()
	checks := make(map[string]Check, len(e.checks))
	for k, v := range e.checks {
		checks[k] = v
	}
	e.mu.Unlock()
	var failures []string
	for name, c := range checks {
		if err := c(ctx); err != nil {
			failures = append(failures, fmt.Sprintf("%s: %v\n", name, err))
		}
	}
	if len(failures) > 0 {
		// The status goes first: a body written before it would have sent 200.
		sort.Strings(failures)
		w.WriteHeader(http.StatusServiceUnavailable)
		for _, f := range failures {
			fmt.Fprint(w, f)
		}
		return
	}
	fmt.Fprintln(w, "ready")
}

// Serve serves until ctx ends, then shuts down within a few seconds.
func (e *Listener) Serve(ctx context.Context, log *slog.Logger) error {
	errc := make(chan error, 1)
	go func() { errc <- e.srv.Serve(e.ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("http endpoint: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
	defer cancel()
	if err := e.srv.Shutdown(sctx); err != nil {
		log.Warn("http endpoint shutdown", "err", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http endpoint: %w", err)
	}
	return nil
}
