package apiclient

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluice-dev/sluice/internal/ratelimit"
	"github.com/sluice-dev/sluice/internal/testinfra"
)

// Three replicas (each its own NATS connection, governor and client) call a server that
// throttles above 30 requests/s while they are configured at 60/s: every call succeeds,
// the 429s are reported to the shared governor and the rate comes down.
func TestIntegrationReplicasThroughRealNATS(t *testing.T) {
	env := testinfra.Require(t, testinfra.NATS)
	t.Parallel()
	ns := fmt.Sprintf("apiclient-it-%d", time.Now().UnixNano())

	var (
		mu        sync.Mutex
		tat       time.Time
		ok, t429  atomic.Int64
		interval  = time.Second / 30
		burstDebt = 5 * interval
	)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		now := time.Now()
		next := tat
		if next.Before(now) {
			next = now
		}
		admit := next.Add(interval).Sub(now) <= burstDebt
		if admit {
			tat = next.Add(interval)
		}
		mu.Unlock()
		if !admit {
			t429.Add(1)
			w.Header().Set("Retry-After", "0.2")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		ok.Add(1)
		fmt.Fprint(w, "ok")
	}))
	defer ts.Close()

	var clients []*Client
	var govs []*ratelimit.Governor
	for range 3 {
		nc, err := nats.Connect(env.NATSURL)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		gov, err := ratelimit.New(context.Background(), js, ratelimit.Config{
			Namespace: ns, HostConcurrency: 4,
			Quotas: map[string]ratelimit.QuotaConfig{"api": {Limit: ratelimit.Limit{Rate: 60}}},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { gov.Close() })
		govs = append(govs, gov)
		clients = append(clients, newClient(t, Config{InitialBackoff: 10 * time.Millisecond, MaxAttempts: 20}, gov))
	}

	var wg sync.WaitGroup
	for _, c := range clients {
		for range 3 {
			wg.Go(func() {
				for range 10 {
					resp, err := c.Do(context.Background(), get(t, ts.URL))
					if err != nil {
						t.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			})
		}
	}
	wg.Wait()
	st, err := govs[0].Status(context.Background(), "api", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("90 calls: %d ok, %d throttled; shared rate now %.1f (limit %.1f), %d throttles reported",
		ok.Load(), t429.Load(), st.Rate, st.Limit, st.Throttled)
	if ok.Load() != 90 {
		t.Errorf("%d calls succeeded, want 90", ok.Load())
	}
	if st.Throttled != uint64(t429.Load()) {
		t.Errorf("governor saw %d throttles, server sent %d", st.Throttled, t429.Load())
	}
	if t429.Load() > 0 && st.Rate >= 60*(1-ratelimit.DefaultHeadroom) {
		t.Errorf("rate %v did not come down after throttles", st.Rate)
	}
}
