// Command sluice-sim-amazonads serves the Amazon Ads v3 reporting API
// simulator (package sim) on a TCP address. Run with -h for its flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/sluice-dev/sluice/internal/version"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/sluice-dev/sluice/services/simulators/amazonads/sim"
)

func main() {
	ctx, stop := cancelOnSignal(context.Background())
	defer stop()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout)
	var usage usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.As(err, &usage):
		fmt.Fprintln(os.Stderr, "sluice-sim-amazonads:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "sluice-sim-amazonads:", err)
		os.Exit(1)
	}
}

// usageError is a command line that cannot be used: status 2.
type usageError struct{ error }

// cancelOnSignal cancels the context on the first SIGINT or SIGTERM, so the
// server drains; a second signal exits at once.
func cancelOnSignal(parent context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancel(parent)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case <-sigs:
			cancel()
		case <-done:
			return
		}
		select {
		case <-sigs:
			os.Exit(130)
		case <-done:
		}
	}()
	return ctx, func() { signal.Stop(sigs); close(done); cancel() }
}

// envPrefix prefixes the environment variable of every flag: --latency-median
// is also SLUICE_SIM_LATENCY_MEDIAN. Flags win over the environment.
const envPrefix = "SLUICE_SIM_"

func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// run parses args (and the environment through getenv), then serves until
// ctx is cancelled. Logs go to stdout as JSON.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cfg := sim.DefaultConfig()
	fs := flag.NewFlagSet("sluice-sim-amazonads", flag.ContinueOnError)
	fs.SetOutput(stdout)
	addr := fs.String("addr", "127.0.0.1:8089", "listen address")
	showVersion := fs.Bool("version", false, "print the version and exit")
	logLevel := fs.String("log-level", "info", "log level: debug (one line per request), info, warn, error")
	cfg.RegisterFlags(fs)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: sluice-sim-amazonads [flags]

Simulates the Amazon Ads v3 reporting API: POST /auth/o2/token, GET /v2/profiles,
POST /reporting/reports, GET /reporting/reports/{id}, GET /download/{id}, plus
GET /_sim/stats and POST /_sim/reset. Every flag can also be set in the
environment as %s<FLAG> (e.g. %s, %s). SIGTERM drains and exits.

`, envPrefix, envName("addr"), envName("latency-median"))
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if *showVersion {
		fmt.Fprintln(stdout, version.String("sluice-sim-amazonads"))
		return nil
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments %q", fs.Args())}
	}
	if err := applyEnv(fs, getenv); err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	logger := slog.New(slog.NewJSONHandler(stdout, &slog.HandlerOptions{Level: level}))

	srv, err := sim.New(cfg, sim.WithLogger(logger))
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	logger.Info("listening", "component", "amazonads-sim", "addr", ln.Addr().String(),
		"profiles", cfg.Profiles.Count, "seed", cfg.Seed, "clientId", cfg.Auth.Clients[0].ClientID)
	if err := srv.Serve(ctx, ln); err != nil {
		return err
	}
	logger.Info("stopped", "component", "amazonads-sim")
	return nil
}

// applyEnv sets every flag not given on the command line from its
// environment variable, when that is set.
func applyEnv(fs *flag.FlagSet, getenv func(string) string) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] {
			return
		}
		if v := getenv(envName(f.Name)); v != "" {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %w", envName(f.Name), v, err))
			}
		}
	})
	return errors.Join(errs...)
}
