package specstore_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluice-dev/sluice/internal/bus"
	"github.com/sluice-dev/sluice/internal/config"
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

// spec returns a valid spec of provider/dataset writing table.
func tableSpec(t *testing.T, provider, dataset, table string, version int64) *spec.Spec {
	t.Helper()
	sp, err := spec.Parse([]byte(fmt.Sprintf(`{"provider": %q, "dataset": %q, "version": %d, "table": %q,
		"format": {"type": "json_array"},
		"columns": [{"name": "id", "type": "bigint", "expr": "row.id"}], "primary_key": ["id"]}`, provider, dataset, version, table)))
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

func TestRegisterRefusesATableOfAnotherDataset(t *testing.T) {
	s, js := openStore(t)
	ctx := context.Background()
	if err := s.Register(ctx, items(t, 1, "")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		sp   *spec.Spec
	}{
		{"another provider", tableSpec(t, "globex", "items", "acme_items", 1)},
		{"another dataset of the same provider", tableSpec(t, "acme", "orders", "acme_items", 1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := s.Register(ctx, tc.sp)
			if !errors.Is(err, specstore.ErrTableClaimed) {
				t.Fatalf("Register = %v, want ErrTableClaimed", err)
			}
			for _, want := range []string{"acme.items", tc.sp.Key(), "acme_items"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not name %s", err, want)
				}
			}
			if _, err := s.Get(ctx, tc.sp.Provider, tc.sp.Dataset); !errors.Is(err, specstore.ErrNotFound) {
				t.Errorf("the refused spec was stored: %v", err)
			}
		})
	}
	// The owner keeps its table across versions; a new table is claimed as well.
	if err := s.Register(ctx, items(t, 2, `, {"name": "n", "type": "text", "expr": "row.n", "nullable": true}`)); err != nil {
		t.Errorf("a new version of the owner: %v", err)
	}
	if err := s.Register(ctx, tableSpec(t, "acme", "items", "acme_items_v3", 3)); err != nil {
		t.Errorf("the owner moving to a new table: %v", err)
	}
	if err := s.Register(ctx, tableSpec(t, "globex", "items", "acme_items", 1)); !errors.Is(err, specstore.ErrTableClaimed) {
		t.Errorf("the table the owner left still holds its rows; another dataset took it: %v", err)
	}
	if owner, err := s.TableOwner(ctx, "acme_items_v3"); err != nil || owner != "acme.items" {
		t.Errorf("TableOwner = %q, %v", owner, err)
	}
	// Claims are not specs: List and a reader's watch skip them.
	other, err := specstore.Open(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	if all, err := other.List(ctx); err != nil || len(all) != 1 {
		t.Errorf("List = %v, %v; want the one spec", all, err)
	}
}

// TestRegisterTableClaimIsRaceFree registers specs of many datasets naming one table at
// once, each through its own connection, as replicas of several providers starting
// together would: exactly one may win.
func TestRegisterTableClaimIsRaceFree(t *testing.T) {
	url := testinfra.PrivateNATS(t)
	ctx := context.Background()
	const contenders = 8
	stores := make([]*specstore.Store, contenders)
	for i := range stores {
		nc, err := nats.Connect(url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			if err := bus.Provision(ctx, js, bus.DefaultProvision()); err != nil {
				t.Fatal(err)
			}
		}
		if stores[i], err = specstore.Open(ctx, js); err != nil {
			t.Fatal(err)
		}
	}
	for round := range 5 {
		table, dataset := fmt.Sprintf("shared_%d", round), fmt.Sprintf("items%d", round)
		errs := make([]error, contenders)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range contenders {
			wg.Go(func() {
				<-start
				errs[i] = stores[i].Register(ctx, tableSpec(t, fmt.Sprintf("p%d", i), dataset, table, 1))
			})
		}
		close(start)
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Fatalf("round %d: both p%d and p%d registered table %s", round, winner, i, table)
			case err == nil:
				winner = i
			case !errors.Is(err, specstore.ErrTableClaimed):
				t.Fatalf("round %d: p%d: %v", round, i, err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: nobody registered table %s: %v", round, table, errs)
		}
		if owner, err := stores[0].TableOwner(ctx, table); err != nil || owner != fmt.Sprintf("p%d.%s", winner, dataset) {
			t.Fatalf("round %d: owner %q, %v; winner p%d", round, owner, err, winner)
		}
	}
}

// TestWatchSurvivesServerRestart restarts the nats-server under a watching reader: the
// reader must fail readiness while its copies may be stale and, once the server is back,
// pick up a spec registered after the restart without being restarted itself.
func TestWatchSurvivesServerRestart(t *testing.T) {
	srv := testinfra.StartNATS(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	connect := func(name string) *specstore.Store {
		nc, js, err := bus.Connect(ctx, config.NATS{URL: srv.URL}, name, log)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		if err := bus.Provision(ctx, js, bus.DefaultProvision()); err != nil {
			t.Fatal(err)
		}
		s, err := specstore.Open(ctx, js)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	writer, reader := connect("writer"), connect("reader")
	if err := reader.Ready(ctx); err == nil {
		t.Error("ready before the watch started")
	}
	done := make(chan error, 1)
	go func() { done <- reader.Watch(ctx, log) }()
	waitFor(t, 10*time.Second, "the watch to become current", func() bool { return reader.Ready(ctx) == nil })
	if err := writer.Register(ctx, items(t, 1, "")); err != nil {
		t.Fatal(err)
	}
	waitVersion(t, reader, 1)

	srv.Stop()
	waitFor(t, 30*time.Second, "readiness to fail while the server is down", func() bool { return reader.Ready(ctx) != nil })
	t.Logf("while down: %v", reader.Ready(ctx))
	srv.Start()
	waitFor(t, 30*time.Second, "the writer to register version 2 after the restart", func() bool {
		return writer.Register(ctx, items(t, 2, `, {"name": "n", "type": "text", "expr": "row.n"}`)) == nil
	})
	waitVersion(t, reader, 2)
	waitFor(t, 30*time.Second, "readiness to return", func() bool { return reader.Ready(ctx) == nil })

	// Once more: the re-established watch must itself survive a restart.
	srv.Stop()
	srv.Start()
	waitFor(t, 30*time.Second, "the writer to register version 3 after the second restart", func() bool {
		return writer.Register(ctx, items(t, 3, `, {"name": "n", "type": "text", "expr": "row.n"}, {"name": "m", "type": "text", "expr": "row.m"}`)) == nil
	})
	waitVersion(t, reader, 3)
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Watch returned %v after its context ended", err)
	}
}

// waitVersion waits until the reader's copy of acme/items has version want, without
// reading the bucket (Get serves a held copy), so only the watch can make it pass.
func waitVersion(t *testing.T, reader *specstore.Store, want int64) {
	t.Helper()
	var got int64
	waitFor(t, 30*time.Second, fmt.Sprintf("the reader to hold version %d", want), func() bool {
		sp, err := reader.Get(context.Background(), "acme", "items")
		if err == nil {
			got = sp.Version
		}
		return got == want
	})
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestWatchSurvivesLostBucket deletes the bucket under a watching reader, as a server
// restarted without its store would: the watch's consumer cannot be recreated and the
// client library only reports that asynchronously, so the watch goes silent without
// ending. The reader must notice, fail readiness, and catch up once the bucket is
// provisioned again.
func TestWatchSurvivesLostBucket(t *testing.T) {
	url := testinfra.PrivateNATS(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := slog.New(slog.NewTextHandler(t.Output(), nil))
	nc, js, err := bus.Connect(ctx, config.NATS{URL: url}, "reader", log)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if err := bus.Provision(ctx, js, bus.DefaultProvision()); err != nil {
		t.Fatal(err)
	}
	reader, err := specstore.Open(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = reader.Watch(ctx, log) }()
	waitFor(t, 10*time.Second, "the watch to become current", func() bool { return reader.Ready(ctx) == nil })
	if err := reader.Register(ctx, items(t, 1, "")); err != nil {
		t.Fatal(err)
	}

	if err := js.DeleteKeyValue(ctx, bus.BucketSpecs); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "readiness to fail once the bucket is gone", func() bool { return reader.Ready(ctx) != nil })
	t.Logf("without the bucket: %v", reader.Ready(ctx))
	if err := bus.Provision(ctx, js, bus.DefaultProvision()); err != nil {
		t.Fatal(err)
	}
	writer, err := specstore.Open(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	if err := writer.Register(ctx, items(t, 4, `, {"name": "n", "type": "text", "expr": "row.n"}`)); err != nil {
		t.Fatal(err)
	}
	waitVersion(t, reader, 4)
	waitFor(t, 30*time.Second, "readiness to return", func() bool { return reader.Ready(ctx) == nil })
}
