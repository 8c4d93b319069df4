package bus

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func TestRequest(t *testing.T) {
	defer func(d time.Duration) { requestTimeout = d }(requestTimeout)
	requestTimeout = 50 * time.Millisecond
	refused := errors.New("refused")
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	far, cancelFar := context.WithTimeout(context.Background(), time.Hour)
	defer cancelFar()
	for _, tc := range []struct {
		name        string
		ctx         context.Context
		do          func(context.Context) (int, error)
		want        int
		wantErr     error
		wantTimeout bool
	}{
		{"answered", far, func(context.Context) (int, error) { return 7, nil }, 7, nil, false},
		{"refused", far, func(context.Context) (int, error) { return 0, refused }, 0, refused, false},
		{"bounded under a far deadline", far, func(ctx context.Context) (int, error) {
			dl, ok := ctx.Deadline()
			if !ok || time.Until(dl) > requestTimeout {
				return 0, errors.New("not bounded")
			}
			return 1, nil
		}, 1, nil, false},
		{"no reply within the bound", far, func(ctx context.Context) (int, error) {
			if ctx.Err() != nil {
				return 0, errors.New("already ended")
			}
			<-ctx.Done()
			return 0, ctx.Err()
		}, 0, context.DeadlineExceeded, true},
		{"the caller's own end is not a bus timeout", cancelled, func(ctx context.Context) (int, error) { return 0, ctx.Err() }, 0, context.Canceled, false},
	} {
		got, err := Request(tc.ctx, tc.do)
		if got != tc.want || !errors.Is(err, tc.wantErr) || errors.Is(err, nats.ErrTimeout) != tc.wantTimeout {
			t.Errorf("%s: Request = %d, %v; want %d, %v (bus timeout %v)", tc.name, got, err, tc.want, tc.wantErr, tc.wantTimeout)
		}
	}
}

// silentKV and silentJS never reply: every request waits for its context.
type silentKV struct{ jetstream.KeyValue }

func (silentKV) Get(ctx context.Context, _ string) (jetstream.KeyValueEntry, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func (silentKV) Update(ctx context.Context, _ string, _ []byte, _ uint64) (uint64, error) {
	<-ctx.Done()
	return 0, ctx.Err()
}

func (silentKV) Delete(ctx context.Context, _ string, _ ...jetstream.KVDeleteOpt) error {
	<-ctx.Done()
	return ctx.Err()
}

type silentJS struct{ jetstream.JetStream }

func (silentJS) PublishMsg(ctx context.Context, _ *nats.Msg, _ ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestBoundedJetStream: the context NewJetStream returns ends a request that gets no
// reply under a far deadline with nats.ErrTimeout.
func TestBoundedJetStream(t *testing.T) {
	defer func(d time.Duration) { requestTimeout = d }(requestTimeout)
	requestTimeout = 50 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	kv := boundedKV{silentKV{}}
	js := boundedJS{silentJS{}}
	for name, call := range map[string]func() error{
		"kv get":      func() error { _, err := kv.Get(ctx, "k"); return err },
		"kv update":   func() error { _, err := kv.Update(ctx, "k", nil, 1); return err },
		"kv delete":   func() error { return kv.Delete(ctx, "k") },
		"publish msg": func() error { _, err := js.PublishMsg(ctx, &nats.Msg{Subject: "s"}); return err },
	} {
		done := make(chan error, 1)
		go func() { done <- call() }()
		select {
		case err := <-done:
			if !errors.Is(err, nats.ErrTimeout) {
				t.Errorf("%s: %v, want nats.ErrTimeout", name, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: no answer after 5 s: the request is not bounded", name)
		}
	}
}
