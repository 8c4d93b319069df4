package apiclient

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/ratelimit"
	"github.com/sluice-dev/sluice/internal/servicetest"
)

// A server that stalls mid-body must not hold the download slot: the read fails with an
// IdleTimeoutError naming the URL, host and idle time, and the host's only slot, shared
// through a real JetStream bucket, is free for another replica at once. The lease TTL is
// an hour, so only a release (not the expiry of a dead holder's lease) can free it.
func TestIntegrationStalledBodyReleasesSlot(t *testing.T) {
	_, js := servicetest.JetStream(t)
	release := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ok" {
			io.WriteString(w, "ok")
			return
		}
		w.Header().Set("Content-Length", "1000000")
		io.WriteString(w, strings.Repeat("x", 1000))
		w.(http.Flusher).Flush()
		select { // stall: headers and 1000 bytes sent, the rest never comes
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(ts.Close)
	t.Cleanup(func() { close(release) })

	newGov := func() *ratelimit.Governor {
		gov, err := ratelimit.New(context.Background(), js, ratelimit.Config{
			Namespace: "stall", HostConcurrency: 1, LeaseTTL: time.Hour,
			Quotas: map[string]ratelimit.QuotaConfig{"api": {Limit: ratelimit.Limit{Rate: 100}}},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { gov.Close() })
		return gov
	}
	const idle = 300 * time.Millisecond
	stalling := newClient(t, Config{IdleReadTimeout: idle}, newGov())
	other := newClient(t, Config{}, newGov())

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	resp, err := stalling.Do(ctx, get(t, ts.URL+"/report.gz?sig=secret"))
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	var ie *IdleTimeoutError
	if !errors.As(err, &ie) || !errors.Is(err, ErrIdleTimeout) {
		t.Fatalf("read of a stalled body: %d bytes, err %v; want an IdleTimeoutError", n, err)
	}
	if ie.Idle != idle || ie.Received != 1000 || !strings.Contains(ie.Error(), "/report.gz") ||
		!strings.Contains(ie.Error(), ts.Listener.Addr().String()) || strings.Contains(ie.Error(), "secret") {
		t.Errorf("error %q (%+v): want the url without query, the host, the idle time and 1000 bytes", ie, ie)
	}
	// The caller has not closed the body yet: the stall alone must have released the slot.
	octx, ocancel := context.WithTimeout(ctx, 20*time.Second)
	defer ocancel()
	resp2, err := other.Do(octx, get(t, ts.URL+"/ok"))
	if err != nil {
		t.Fatalf("another replica could not take the host's only slot after the stall: %v", err)
	}
	if got := readAll(t, resp2); got != "ok" {
		t.Errorf("body %q", got)
	}
	if err := resp.Body.Close(); err != nil {
		t.Errorf("close after the stall: %v", err)
	}
	if _, err := resp.Body.Read(make([]byte, 1)); !errors.Is(err, ErrIdleTimeout) {
		t.Errorf("read after the stall: %v, want the idle timeout again", err)
	}
}
