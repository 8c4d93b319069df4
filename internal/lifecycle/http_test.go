package lifecycle

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

// /readyz answers 503 and names every failing check; before, the body went out first and
// the status stayed 200, so a paused stage looked ready.
func TestReadyzFailsWithTheReasons(t *testing.T) {
	ep, err := NewEndpoint("127.0.0.1:0", http.NotFoundHandler())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ep.Serve(ctx, slog.New(slog.DiscardHandler)) }()
	defer func() { cancel(); <-done }()

	var down atomic.Bool
	ep.AddCheck("nats", func(context.Context) error { return nil })
	ep.AddCheck("consumer", func(context.Context) error {
		if down.Load() {
			return errors.New("paused, waiting for postgres")
		}
		return nil
	})
	for _, tc := range []struct {
		down   bool
		status int
		body   string
	}{
		{false, http.StatusOK, "ready"},
		{true, http.StatusServiceUnavailable, "consumer: paused, waiting for postgres"},
	} {
		down.Store(tc.down)
		resp, err := http.Get("http://" + ep.Addr() + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.body) {
			t.Errorf("down=%v: %d %q, want %d with %q", tc.down, resp.StatusCode, body, tc.status, tc.body)
		}
	}
}
