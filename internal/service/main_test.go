package service

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/config"
)

func TestFirstSignalDrainsSecondExits(t *testing.T) {
	sigs := make(chan os.Signal, 2)
	exited := make(chan int, 1)
	drained := make(chan struct{})
	release := make(chan struct{})
	var stderr bytes.Buffer
	p := Process{Getenv: func(string) string { return "" }, Stdout: io.Discard, Stderr: &stderr, Signals: sigs,
		Exit: func(code int) { exited <- code }}
	codec := make(chan int, 1)
	go func() {
		codec <- p.Run(func(ctx context.Context, _ []string, _ func(string) string, _, _ io.Writer) error {
			<-ctx.Done() // draining starts with the first signal
			close(drained)
			<-release // a drain that takes long
			return nil
		})
	}()
	sigs <- syscall.SIGTERM
	select {
	case <-drained:
	case <-time.After(10 * time.Second):
		t.Fatal("the first signal did not cancel the run's context")
	}
	select {
	case code := <-exited:
		t.Fatalf("exited with %d after one signal", code)
	default:
	}
	sigs <- syscall.SIGINT
	select {
	case code := <-exited:
		if code != 2 || !strings.Contains(stderr.String(), "second signal") {
			t.Fatalf("second signal: exit %d, stderr %q", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the second signal did not exit")
	}
	close(release)
	if code := <-codec; code != 0 {
		t.Fatalf("a drained run returned status %d", code)
	}
}

func TestExitCodes(t *testing.T) {
	for _, c := range []struct {
		err  error
		want int
	}{
		{nil, 0},
		{config.ErrHelp, 0},
		{config.ErrVersion, 0},
		{config.Usagef("bad flag"), 2},
		{errors.New("postgres down"), 1},
	} {
		p := Process{Stdout: io.Discard, Stderr: io.Discard, Signals: make(chan os.Signal), Exit: func(int) {}}
		if got := p.Run(func(context.Context, []string, func(string) string, io.Writer, io.Writer) error { return c.err }); got != c.want {
			t.Errorf("%v: status %d, want %d", c.err, got, c.want)
		}
	}
}
