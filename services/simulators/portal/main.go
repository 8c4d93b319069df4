// Command sluice-sim-portal serves the partner-portal simulator (package sim) on a TCP
// address: every portal is a sub-domain routed by the Host header, so point the portals'
// host names at this address (a resolve map, /etc/hosts or a proxy). Run with -h.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"github.com/sluice-dev/sluice/internal/version"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/sluice-dev/sluice/services/simulators/portal/sim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "sluice-sim-portal:", err)
		var usage usageError
		if errors.As(err, &usage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// run serves until ctx is cancelled. GET /_sim/stats on any host not a portal's answers
// the counters as JSON.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	cfg := sim.DefaultConfig()
	fs := flag.NewFlagSet("sluice-sim-portal", flag.ContinueOnError)
	showVersion := fs.Bool("version", false, "print the version and exit")
	fs.SetOutput(stdout)
	addr := fs.String("addr", "127.0.0.1:8090", "listen address")
	hosts := fs.String("portals", "", "comma-separated host[=script] list replacing the default portals (a.portal.test, b.portal.test, c.portal.test, js.portal.test=script)")
	fs.DurationVar(&cfg.PageLatency, "page-latency", 0, "latency of every page")
	fs.IntVar(&cfg.SlowEvery, "slow-every", 0, "every n-th request of a host is slow (0: none)")
	fs.DurationVar(&cfg.SlowLatency, "slow-latency", 2*time.Second, "latency of a slow page")
	fs.DurationVar(&cfg.SessionTTL, "session-ttl", 0, "session lifetime (0: unlimited)")
	fs.IntVar(&cfg.SessionMaxRequests, "session-max-requests", 0, "requests per session (0: unlimited)")
	fs.IntVar(&cfg.MalformedEvery, "malformed-every", 0, "one in n inventory and traffic reports is malformed (0: none)")
	fs.IntVar(&cfg.ListPageSize, "list-page-size", cfg.ListPageSize, "reports per listing page")
	accounts := fs.Int("accounts", 2, "accounts per portal (each has three reports a day)")
	refuse := fs.Bool("refuse-overlap", false, "answer 429 to a request beyond 4 at once per host instead of 500 and a violation")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if *showVersion {
		fmt.Fprintln(stdout, version.String("sluice-sim-portal"))
		return nil
	}
	if *hosts != "" {
		cfg.Portals = nil
		for _, h := range strings.Split(*hosts, ",") {
			host, login, _ := strings.Cut(strings.TrimSpace(h), "=")
			if login == "" {
				login = sim.LoginForm
			}
			cfg.Portals = append(cfg.Portals, sim.Portal{Host: host, Login: login, User: "crawler", Password: "secret-" + host})
		}
	}
	if *accounts < 1 {
		return fmt.Errorf("--accounts %d: want at least 1", *accounts)
	}
	for i := range cfg.Portals {
		cfg.Portals[i].Accounts = nil
		for a := range *accounts {
			cfg.Portals[i].Accounts = append(cfg.Portals[i].Accounts, fmt.Sprintf("acct-%d", a+1))
		}
	}
	if *refuse {
		cfg.Overlap = sim.OverlapRefuse
	}
	log := slog.New(slog.NewJSONHandler(stdout, nil))
	s, err := sim.New(cfg, log)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /_sim/stats", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(s.Stats())
	})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/_sim/stats" {
			mux.ServeHTTP(w, r)
			return
		}
		s.ServeHTTP(w, r)
	})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	log.Info("serving portals", "addr", ln.Addr().String(), "portals", len(cfg.Portals))
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

// usageError is a command line that cannot be used: status 2.
type usageError struct{ error }
