package specstore_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluice-dev/sluice/internal/bus"
	"github.com/sluice-dev/sluice/internal/spec"
	"github.com/sluice-dev/sluice/internal/specstore"
	"github.com/sluice-dev/sluice/internal/testinfra"
)

func openStore(t *testing.T) (*specstore.Store, jetstream.JetStream) {
	t.Helper()
	url := testinfra.PrivateNATS(t)
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.Provision(context.Background(), js, bus.DefaultProvision()); err != nil {
		t.Fatal(err)
	}
	s, err := specstore.Open(context.Background(), js)
	if err != nil {
		t.Fatal(err)
	}
	return s, js
}

func items(t *testing.T, version int64, extra string) *spec.Spec {
	t.Helper()
	sp, err := spec.Parse([]byte(fmt.Sprintf(`{"provider": "acme", "dataset": "items", "version": %d, "table": "acme_items",
		"format": {"type": "json_array"},
		"columns": [{"name": "id", "type": "bigint", "expr": "row.id"}%s], "primary_key": ["id"]}`, version, extra)))
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

func TestRegisterVersions(t *testing.T) {
	s, js := openStore(t)
	ctx := context.Background()
	if err := s.Register(ctx, items(t, 1, "")); err != nil {
		t.Fatal(err)
	}
	if err := s.Register(ctx, items(t, 1, "")); err != nil {
		t.Errorf("registering the same spec again: %v", err)
	}
	if err := s.Register(ctx, items(t, 1, `, {"name": "n", "type": "text", "expr": "row.n"}`)); !errors.Is(err, specstore.ErrConflict) {
		t.Errorf("changed content under the same version: %v, want ErrConflict", err)
	}
	v2 := items(t, 2, `, {"name": "n", "type": "text", "expr": "row.n"}`)
	if err := s.Register(ctx, v2); err != nil {
		t.Fatal(err)
	}
	if err := s.Register(ctx, items(t, 1, "")); !errors.Is(err, specstore.ErrConflict) {
		t.Errorf("downgrade: %v, want ErrConflict", err)
	}

	// Another process that saw version 1 only catches up when rows need version 2.
	other, err := specstore.Open(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := other.Get(ctx, "acme", "items"); err != nil || got.Version != 2 {
		t.Fatalf("Get = v%v, %v", got, err)
	}
	if got, err := other.GetAtLeast(ctx, "acme", "items", 2); err != nil || got.Version != 2 {
		t.Errorf("GetAtLeast(2) = %v, %v", got, err)
	}
	if _, err := other.GetAtLeast(ctx, "acme", "items", 3); !errors.Is(err, specstore.ErrNotFound) {
		t.Errorf("GetAtLeast(3) = %v, want ErrNotFound", err)
	}
	if _, err := other.Get(ctx, "acme", "nothing"); !errors.Is(err, specstore.ErrNotFound) {
		t.Errorf("Get of an unregistered dataset: %v", err)
	}
	all, err := other.List(ctx)
	if err != nil || len(all) != 1 || all[0].Version != 2 {
		t.Errorf("List = %v, %v", all, err)
	}
}

func TestWatchKeepsCopiesCurrent(t *testing.T) {
	s, js := openStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := s.Register(ctx, items(t, 1, "")); err != nil {
		t.Fatal(err)
	}
	reader, err := specstore.Open(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	if sp, err := reader.Get(ctx, "acme", "items"); err != nil || sp.Version != 1 {
		t.Fatalf("Get = %v, %v", sp, err)
	}
	done := make(chan error, 1)
	go func() { done <- reader.Watch(ctx, slog.New(slog.DiscardHandler)) }()
	time.Sleep(200 * time.Millisecond) // let the watcher subscribe
	if err := s.Register(ctx, items(t, 2, `, {"name": "n", "type": "text", "expr": "row.n"}`)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		sp, err := reader.Get(ctx, "acme", "items")
		if err == nil && sp.Version == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the watcher did not pick up version 2: %v %v", sp, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Watch returned %v after its context ended", err)
	}
}
