// Package servicetest sets up what integration tests of sluice services share: a private
// real JetStream server with sluice's streams and buckets provisioned, and service binaries
// built from the workspace so tests run them as processes.
package servicetest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluice-dev/sluice/internal/bus"
	"github.com/sluice-dev/sluice/internal/procs"
	"github.com/sluice-dev/sluice/internal/testinfra"
)

// JetStream starts a private nats-server (see testinfra.PrivateNATS), connects to it and
// provisions the streams and buckets. It returns the server URL, for service processes,
// and the test's own JetStream context; both end with the test.
func JetStream(t testing.TB) (string, jetstream.JetStream) {
	t.Helper()
	url := testinfra.PrivateNATS(t)
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := bus.NewJetStream(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := bus.Provision(ctx, js, bus.DefaultProvision()); err != nil {
		t.Fatal(err)
	}
	return url, js
}

// Binaries builds the named binaries (see procs.Binaries) into a directory of the test
// and returns it.
func Binaries(t testing.TB, names ...string) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root, err := procs.RepoRoot(wd)
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := procs.Build(ctx, root, bin, names...); err != nil {
		t.Fatal(err)
	}
	return bin
}
