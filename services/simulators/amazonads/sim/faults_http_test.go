package sim_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/services/simulators/amazonads/sim"
)

// completedURL creates a report for the first reportable profile and
// returns its download url once completed.
func completedURL(h *harness) string {
	h.t.Helper()
	p := h.reportables()[0]
	status, rep, raw := h.create(p.ProfileID, createBody(adGroupSpec, "2024-06-01", "2024-06-02"))
	if status != http.StatusOK {
		h.t.Fatalf("create: %d %s", status, raw)
	}
	done, _ := h.await(p.ProfileID, rep.ReportID)
	return *done.URL
}

func TestFaultRates(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *sim.Config) {
		c.Seed = 7
		c.Faults.Endpoints = []string{sim.ClassProfiles}
		c.Faults.ServerErrorRate = 0.2
		c.Faults.TimeoutRate = 0.1
		c.Faults.TimeoutAfter = time.Millisecond
		c.Faults.SlowBodyRate = 0.1
		c.Faults.SlowChunkBytes = 256
		c.Faults.SlowChunkInterval = 0
	})
	const n = 400
	counts := map[int]int{}
	for range n {
		resp, body := h.call(http.MethodGet, "/v2/profiles", 0, "")
		counts[resp.StatusCode]++
		if resp.StatusCode == http.StatusOK {
			var ps []sim.Profile
			if err := json.Unmarshal(body, &ps); err != nil || len(ps) != h.cfg.Profiles.Count {
				t.Fatalf("200 with a bad body (%v): %.80s", err, body)
			}
		}
	}
	fiveXX := counts[500] + counts[502] + counts[503]
	within := func(name string, got int, rate float64) {
		if want := rate * n; float64(got) < want*0.6 || float64(got) > want*1.4 {
			t.Errorf("%s: %d of %d, want about %.0f", name, got, n, want)
		}
	}
	within("500/502/503", fiveXX, 0.2)
	within("504 timeouts", counts[504], 0.1)
	if counts[500] == 0 || counts[502] == 0 || counts[503] == 0 {
		t.Errorf("not every server error appeared: %v", counts)
	}
	st := h.srv.Stats()
	within("slow bodies", int(st.Faults[sim.FaultSlowBody]), 0.1)
	if st.Faults[sim.FaultServerError] != int64(fiveXX) || st.Faults[sim.FaultTimeout] != int64(counts[504]) ||
		st.ServerErrors != int64(fiveXX+counts[504]) {
		t.Errorf("fault counters %v / %d server errors, responses %v", st.Faults, st.ServerErrors, counts)
	}
	// Faults were limited to profiles: the token endpoint was untouched.
	if h.srv.Stats().Count(sim.ClassToken, 200) != 1 {
		t.Error("token endpoint affected")
	}
}

func TestHangUntilClientGivesUp(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *sim.Config) {
		c.Faults.TimeoutRate = 1
		c.Faults.Endpoints = []string{sim.ClassProfiles}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, h.ts.URL+"/v2/profiles", nil)
	req.Header.Set(sim.HeaderClientID, h.cred.ClientID)
	req.Header.Set("Authorization", "Bearer "+h.token)
	_, err := h.ts.Client().Do(req)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want the client's deadline", err)
	}
	if h.srv.Stats().Faults[sim.FaultTimeout] != 1 {
		t.Error("timeout not counted")
	}
}

func TestSlowBody(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *sim.Config) {
		c.Faults.SlowBodyRate = 1
		c.Faults.Endpoints = []string{sim.ClassDownload}
		c.Faults.SlowChunkBytes = 100
		c.Faults.SlowChunkInterval = 100 * time.Microsecond
	})
	resp, body := h.download(completedURL(h))
	if resp.StatusCode != http.StatusOK || len(decodeRows(t, body)) != 48 {
		t.Fatalf("slow download: %d, %d bytes", resp.StatusCode, len(body))
	}
	if h.srv.Stats().Faults[sim.FaultSlowBody] != 1 {
		t.Error("slow body not counted")
	}
}

func TestTruncatedGzip(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *sim.Config) { c.Faults.TruncateRate = 1 })
	u := completedURL(h)
	for range 3 {
		resp, body := h.download(u) // the HTTP response itself is complete
		if resp.StatusCode != http.StatusOK || (resp.ContentLength != -1 && resp.ContentLength != int64(len(body))) {
			t.Fatalf("truncated download: %d, Content-Length %d", resp.StatusCode, resp.ContentLength)
		}
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err == nil {
			_, err = io.Copy(io.Discard, zr)
		}
		if !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
			t.Errorf("reading a truncated gzip of %d bytes: %v, want unexpected EOF", len(body), err)
		}
	}
	if h.srv.Stats().Faults[sim.FaultTruncated] != 3 {
		t.Error("truncations not counted")
	}
}

func TestGzipBombDownload(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *sim.Config) {
		c.Faults.BombRate = 1
		c.Faults.BombBytes = 8 << 20
	})
	resp, body := h.download(completedURL(h))
	if resp.StatusCode != http.StatusOK || int64(len(body)) != resp.ContentLength {
		t.Fatalf("bomb download: %d, %d bytes, Content-Length %d", resp.StatusCode, len(body), resp.ContentLength)
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, zr)
	if err != nil {
		t.Fatal(err)
	}
	if len(body) > 64<<10 || n < 6<<20 {
		t.Errorf("bomb of %d bytes inflates to %d", len(body), n)
	}
	if h.srv.Stats().Faults[sim.FaultBomb] != 1 {
		t.Error("bomb not counted")
	}
}
