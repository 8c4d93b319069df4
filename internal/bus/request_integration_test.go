package bus

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestConnectBoundsRequests: on a real server, the JetStream context of Connect ends a
// publish and a key-value write whose reply never comes (a plain subscriber takes the
// request and stays silent, as a node that dies after taking it would) with
// nats.ErrTimeout, under a deadline an hour away.
func TestConnectBoundsRequests(t *testing.T) {
	ctx, js := setup(t)
	defer func(d time.Duration) { requestTimeout = d }(requestTimeout)
	requestTimeout = 200 * time.Millisecond
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "bounded"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatalf("a put that is answered: %v", err)
	}
	// The bucket's stream goes; its subjects get a subscriber that never answers.
	if err := js.DeleteKeyValue(ctx, "bounded"); err != nil {
		t.Fatal(err)
	}
	nc := js.Conn()
	for _, subject := range []string{"$KV.bounded.>", "silent.>"} {
		sub, err := nc.SubscribeSync(subject)
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Unsubscribe()
	}
	far, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	for name, call := range map[string]func() error{
		"kv put":  func() error { _, err := kv.Put(far, "k", []byte("v")); return err },
		"publish": func() error { _, err := js.Publish(far, "silent.x", []byte("v")); return err },
	} {
		done := make(chan error, 1)
		go func() { done <- call() }()
		select {
		case err := <-done:
			if !errors.Is(err, nats.ErrTimeout) {
				t.Errorf("%s without a reply: %v, want nats.ErrTimeout", name, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s without a reply still waits after 10 s: not bounded", name)
		}
	}
}
