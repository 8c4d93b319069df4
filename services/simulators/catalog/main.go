// Command sluice-sim-catalog serves the hotel-catalog API simulator (package sim) on a
// TCP address. Run with -h for its flags.
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
	"syscall"

	"github.com/sluice-dev/sluice/services/simulators/catalog/sim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "sluice-sim-catalog:", err)
		var usage usageError
		if errors.As(err, &usage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// run parses args and serves until ctx is cancelled. Logs go to stdout as JSON.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	cfg := sim.DefaultConfig()
	fs := flag.NewFlagSet("sluice-sim-catalog", flag.ContinueOnError)
	showVersion := fs.Bool("version", false, "print the version and exit")
	fs.SetOutput(stdout)
	addr := fs.String("addr", "127.0.0.1:8090", "listen address")
	cfg.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if *showVersion {
		fmt.Fprintln(stdout, version.String("sluice-sim-catalog"))
		return nil
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	logger := slog.New(slog.NewJSONHandler(stdout, nil))
	srv, err := sim.New(cfg, sim.WithLogger(logger))
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	logger.Info("listening", "component", "catalog-sim", "addr", ln.Addr().String(), "hotels", cfg.Hotels, "seed", cfg.Seed)
	return srv.Serve(ctx, ln)
}

// usageError is a command line that cannot be used: status 2.
type usageError struct{ error }
