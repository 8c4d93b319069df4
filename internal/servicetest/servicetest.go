// Package servicetest gives integration tests a private real JetStream server with
// sluice's streams and buckets provisioned. Everything else tests share is in testinfra;
// this one function is apart because it uses bus, whose own tests use testinfra (one
// package would be an import cycle).
package servicetest

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluice-dev/sluice/internal/bus"
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
