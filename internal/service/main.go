package service

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

// Main runs run under SIGINT/SIGTERM handling and exits with ExitCode's status; it is meant
// to be the only statement of a service's main.
func Main(run RunFunc) {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	os.Exit(Process{Args: os.Args[1:], Getenv: os.Getenv, Stdout: os.Stdout, Stderr: os.Stderr,
		Signals: sigs, Exit: os.Exit}.Run(run))
}

// Process is what Main runs a program with: injectable, so the signal handling is tested
// without sending signals to the test process.
type Process struct {
	Args           []string
	Getenv         func(string) string
	Stdout, Stderr io.Writer
	// Signals delivers SIGINT/SIGTERM: the first cancels the run's context (the service
	// drains), a second calls Exit(2) at once.
	Signals <-chan os.Signal
	Exit    func(code int)
}

// Run runs run and returns its exit status (see ExitCode), printing the error when it is
// not 0.
func (p Process) Run(run RunFunc) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-p.Signals:
		case <-done:
			return
		}
		cancel()
		select {
		case <-p.Signals:
		case <-done:
			return
		}
		fmt.Fprintln(p.Stderr, "second signal: exiting without draining")
		p.Exit(2)
	}()
	err := run(ctx, p.Args, p.Getenv, p.Stdout, p.Stderr)
	code := ExitCode(err)
	if code != 0 {
		fmt.Fprintln(p.Stderr, "error:", err)
	}
	return code
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
