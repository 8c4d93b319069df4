// Package lifecycle runs a sluice service: signal handling (the first SIGTERM or SIGINT
// cancels the run context so the service drains; a second one exits at once) and the
// health, readiness and metrics HTTP endpoint.
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/sluice-dev/sluice/internal/config"
)

// RunFunc is a service's whole program, testable without a process.
type RunFunc func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error

// Main runs run under signal handling and exits with ExitCode's status; it is meant
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
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	code := ExitCode(err)
	if code != 0 {
		fmt.Fprintln(os.Stderr, "error:", err)
	}
	os.Exit(code)
}

// ExitCode is the process status for a run's result: 0 for success and for help or version
// output, 2 for a command line that cannot be used (as command-line tools do), 1 otherwise.
func ExitCode(err error) int {
	var usage *config.UsageError
	switch {
	case err == nil, errors.Is(err, config.ErrHelp), errors.Is(err, config.ErrVersion):
		return 0
	case errors.As(err, &usage):
		return 2
	}
	return 1
}
