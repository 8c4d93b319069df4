package sim_test

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/services/simulators/amazonads/sim"
)

func Test429RetryAfter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		noRetryAfter float64
		fractional   bool
		want         string // Retry-After; "" means absent
	}{
		{"whole seconds", 0, false, "1"},
		{"fractional", 0, true, "0.500"},
		{"missing", 1, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, func(c *sim.Config) {
				c.Throttle.Create = sim.Limit{ProfileRate: 2, ProfileBurst: 1, NoRetryAfterRate: tt.noRetryAfter}
				c.Throttle.FractionalRetryAfter = tt.fractional
			})
			p := h.reportables()[0]
			body := createBody(adGroupSpec, "2024-06-01", "2024-06-01")
			if status, _, raw := h.create(p.ProfileID, body); status != http.StatusOK {
				t.Fatalf("first create: %d %s", status, raw)
			}
			resp, raw := h.call(http.MethodPost, "/reporting/reports", p.ProfileID, body)
			if resp.StatusCode != http.StatusTooManyRequests {
				t.Fatalf("second create: %d %s, want 429", resp.StatusCode, raw)
			}
			if got := resp.Header.Get("Retry-After"); got != tt.want || (tt.want == "") != (resp.Header.Values("Retry-After") == nil) {
				t.Errorf("Retry-After %q, want %q", got, tt.want)
			}
			// Another profile has its own bucket.
			if status, _, raw := h.create(h.reportables()[1].ProfileID, body); status != http.StatusOK {
				t.Errorf("create for another profile: %d %s", status, raw)
			}
			// After the advertised wait, the call is a duplicate (425),
			// no longer throttled.
			h.clock.Advance(500 * time.Millisecond)
			if status, _, raw := h.create(p.ProfileID, body); status != http.StatusTooEarly {
				t.Errorf("create after the wait: %d %s, want 425", status, raw)
			}
			st := h.srv.Stats()
			if st.Throttled != 1 || st.ThrottledWithoutRetryAfter != int64(tt.noRetryAfter) {
				t.Errorf("stats: %d throttled, %d without Retry-After", st.Throttled, st.ThrottledWithoutRetryAfter)
			}
		})
	}
}

// TestThrottleAccuracy fires concurrent status calls while the clock moves
// and checks that the recorder never saw more admitted calls in a 1 s
// window than the buckets allow (burst + rate), per profile and per client,
// and that its counts agree with the HTTP responses.
func TestThrottleAccuracy(t *testing.T) {
	t.Parallel()
	const (
		profileRate, profileBurst = 5, 3
		clientRate, clientBurst   = 8, 4
		workers, perWorker        = 8, 60
	)
	h := newHarness(t, func(c *sim.Config) {
		c.Throttle.Status = sim.Limit{ProfileRate: profileRate, ProfileBurst: profileBurst,
			ClientRate: clientRate, ClientBurst: clientBurst}
	})
	profiles := h.reportables()[:2]
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		statuses = map[int]int{}
	)
	for w := range workers {
		wg.Go(func() {
			p := profiles[w%len(profiles)]
			for range perWorker {
				resp, _ := h.call(http.MethodGet, "/reporting/reports/none", p.ProfileID, "")
				mu.Lock()
				statuses[resp.StatusCode]++
				mu.Unlock()
				h.clock.Advance(7 * time.Millisecond)
			}
		})
	}
	wg.Wait()

	st := h.srv.Stats()
	total := workers * perWorker
	if statuses[http.StatusNotFound]+statuses[http.StatusTooManyRequests] != total || statuses[http.StatusTooManyRequests] == 0 {
		t.Fatalf("responses %v", statuses)
	}
	api := st.Rates[sim.KeyAPI]
	if api.Requests != int64(total) || api.Admitted != int64(statuses[http.StatusNotFound]) {
		t.Errorf("recorder saw %d requests, %d admitted; responses %v", api.Requests, api.Admitted, statuses)
	}
	check := func(key string, bound int64) {
		r, ok := st.Rates[key]
		if !ok {
			t.Fatalf("no rates for %s", key)
		}
		if r.MaxAdmittedInWindow > bound {
			t.Errorf("%s: %d admitted in a 1 s window, bound %d", key, r.MaxAdmittedInWindow, bound)
		}
		if r.MaxInWindow < r.MaxAdmittedInWindow || r.MaxAdmittedInWindow < 2 {
			t.Errorf("%s: implausible maxima %+v", key, r)
		}
		for _, s := range r.PerSecond {
			if s.Admitted > bound {
				t.Errorf("%s: second %d admitted %d, bound %d", key, s.Second, s.Admitted, bound)
			}
		}
	}
	for _, p := range profiles {
		check(fmt.Sprintf("profile:%d:%s", p.ProfileID, sim.ClassStatus), profileBurst+profileRate)
	}
	check("client:"+h.cred.ClientID+":"+sim.ClassStatus, clientBurst+clientRate)
	if len(api.PerSecond) < 2 {
		t.Errorf("per-second counts %v, want several seconds", api.PerSecond)
	}
}
