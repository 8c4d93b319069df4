// Package lifecycle runs a sluice service: signal handling (the first SIGTERM or SIGINT
// cancels the run context so the service drains; a second one exits at once) and the
// health, readiness and metrics HTTP endpoint.
package lifecycle

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// RunFunc is a service's whole program, testable without a process.
type RunFunc func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error

// Main runs run under signal handling and exits with status 1 when it fails; it is meant
// to be the only statement of a service's main.
func Main(run RunFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sigs
		cancel()
		<-sigs
		fmt.Fprintln(os.Stderr, "second signal: exiting without draining")
		os.Exit(2)
	}()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}
