package sim

import (
	"strings"
	"testing"
	"time"
)

func testRequest(t *testing.T, dupKey string) *validRequest {
	t.Helper()
	p, err := compile(ReportSpec{ReportTypeID: ReportSPCampaigns, Columns: []string{"date"}})
	if err != nil {
		t.Fatal(err)
	}
	return &validRequest{start: 1, end: 1, plan: p, dupKey: dupKey}
}

func TestReportStoreDuplicates(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig().Reports
	cfg.LatencyMedian, cfg.LatencyMax, cfg.StuckRate, cfg.FailureRate = time.Second, time.Second, 0, 0
	cfg.LatencySigma = 0
	s := newReportStore(cfg, 1)
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	prof := Profile{ProfileID: 1}

	first, dup := s.create(prof, testRequest(t, "a"), t0)
	if first == nil || dup != nil {
		t.Fatal("first create refused")
	}
	steps := []struct {
		name    string
		at      time.Duration
		key     string
		wantDup bool
	}{
		{"same while pending", 100 * time.Millisecond, "a", true},
		{"other parameters", 100 * time.Millisecond, "b", false},
		{"same while processing", 500 * time.Millisecond, "a", true},
		{"same once completed", 1500 * time.Millisecond, "a", false},
	}
	for _, st := range steps {
		rep, dup := s.create(prof, testRequest(t, st.key), t0.Add(st.at))
		if st.wantDup != (dup != nil) || st.wantDup == (rep != nil) {
			t.Errorf("%s: report %v, duplicate %v", st.name, rep != nil, dup != nil)
		}
		if st.wantDup && dup.id != first.id {
			t.Errorf("%s: duplicate of %s, want %s", st.name, dup.id, first.id)
		}
	}
	if s.count() != 3 {
		t.Errorf("%d reports, want 3", s.count())
	}
}

func TestReportLifecycle(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig().Reports
	cfg.LatencyMedian, cfg.LatencySigma, cfg.LatencyMax = time.Second, 0, time.Second
	cfg.PendingShare, cfg.StuckRate, cfg.FailureRate = 0.25, 0, 0
	s := newReportStore(cfg, 1)
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	rep, _ := s.create(Profile{ProfileID: 1}, testRequest(t, "a"), t0)
	for _, tt := range []struct {
		at   time.Duration
		want string
	}{{0, StatusPending}, {249 * time.Millisecond, StatusPending}, {250 * time.Millisecond, StatusProcessing},
		{999 * time.Millisecond, StatusProcessing}, {time.Second, StatusCompleted}, {time.Hour, StatusCompleted}} {
		if got, _ := rep.statusAt(t0.Add(tt.at)); got != tt.want {
			t.Errorf("status at %v = %s, want %s", tt.at, got, tt.want)
		}
	}
	v := rep.view(t0.Add(2 * time.Second))
	if v.GeneratedAt == nil || v.FailureReason != nil || v.UpdatedAt != "2024-01-01T00:00:01.000Z" {
		t.Errorf("completed view %+v", v)
	}
}

// TestReportLatencyDistribution checks the drawn latencies: capped, median
// near the configured one, stuck and failed shares near their rates.
func TestReportLatencyDistribution(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig().Reports
	cfg.LatencyMedian, cfg.LatencySigma, cfg.LatencyMax = time.Second, 1, 5*time.Second
	cfg.StuckRate, cfg.StuckFor, cfg.FailureRate = 0.1, time.Hour, 0.2
	s := newReportStore(cfg, 3)
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	const n = 2000
	below, stuck, failed := 0, 0, 0
	for i := range n {
		rep, _ := s.create(Profile{ProfileID: 1}, testRequest(t, strings.Repeat("k", i+1)), t0)
		total := rep.doneAt.Sub(t0)
		if rep.processingAt.Sub(t0) >= time.Hour {
			stuck++
			total -= time.Hour
		}
		if total > cfg.LatencyMax {
			t.Fatalf("latency %v above max", total)
		}
		if total < time.Second {
			below++
		}
		if rep.failed {
			failed++
		}
	}
	for _, c := range []struct {
		name      string
		got       int
		want, tol float64
	}{{"below median", below, 0.5, 0.05}, {"stuck", stuck, 0.1, 0.03}, {"failed", failed, 0.2, 0.03}} {
		if share := float64(c.got) / n; share < c.want-c.tol || share > c.want+c.tol {
			t.Errorf("%s share %.3f, want %.2f±%.2f", c.name, share, c.want, c.tol)
		}
	}
}

func TestReportID(t *testing.T) {
	t.Parallel()
	id := reportID(12345)
	if len(id) != 36 || id[14] != '4' || strings.Count(id, "-") != 4 {
		t.Errorf("report id %q is not a v4 UUID", id)
	}
	if reportID(12345) != id || reportID(12346) == id {
		t.Error("report ids are not a function of their input")
	}
}
