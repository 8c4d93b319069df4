package jobs_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/sluice-dev/sluice/internal/bus"
	"github.com/sluice-dev/sluice/internal/servicetest"
	"github.com/sluice-dev/sluice/services/extractor/provider/jobs"
)

func TestPollInterval(t *testing.T) {
	t.Parallel()
	p := jobs.PollPolicy{Initial: time.Second, Max: 10 * time.Second, Multiplier: 2, Jitter: 0.5}
	for _, tc := range []struct {
		n    int
		u    float64
		want time.Duration
	}{
		{0, 0.5, time.Second}, {1, 0.5, 2 * time.Second}, {3, 0.5, 8 * time.Second}, {4, 0.5, 10 * time.Second},
		{100, 0.5, 10 * time.Second}, {0, 0, 500 * time.Millisecond}, {2, 0.999999, 6 * time.Second},
	} {
		if got := p.Interval(tc.n, tc.u); got.Round(time.Millisecond) != tc.want {
			t.Errorf("Interval(%d, %v) = %v, want %v", tc.n, tc.u, got, tc.want)
		}
	}
	for _, bad := range []jobs.PollPolicy{{}, {Initial: 2, Max: 1, Multiplier: 1}, {Initial: 1, Max: 1, Multiplier: 0.5}, {Initial: 1, Max: 1, Multiplier: 1, Jitter: 1}} {
		if bad.Validate() == nil {
			t.Errorf("%+v: accepted", bad)
		}
	}
}

// fakeAPI is a report API whose reports complete after a few polls.
type fakeAPI struct {
	requests atomic.Int64
	polls    atomic.Int64
	mu       sync.Mutex
	statuses map[string]int
	fail     error
	block    chan struct{} // when set, Request waits for it
}

func (f *fakeAPI) Request(ctx context.Context, j jobs.Job) (string, error) {
	if f.block != nil {
		select {
		case <-f.block:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	if f.fail != nil {
		return "", f.fail
	}
	f.requests.Add(1)
	return "rep-" + j.Profile, nil
}

func (f *fakeAPI) Status(_ context.Context, j jobs.Job) (jobs.Report, error) {
	f.polls.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.statuses[j.ReportID]++
	if f.statuses[j.ReportID] < 3 {
		return jobs.Report{Status: jobs.Processing}, nil
	}
	return jobs.Report{Status: jobs.Completed, URL: "https://s3/x", URLExpiresAt: time.Now().Add(time.Hour)}, nil
}

func newStore(t *testing.T, ttl time.Duration) *jobs.Store {
	t.Helper()
	_, js := servicetest.JetStream(t)
	ctx := context.Background()
	kv, err := js.KeyValue(ctx, bus.BucketJobs)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jobs.New(kv, "prov", jobs.Config{ClaimTTL: ttl}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var fast = jobs.PollPolicy{Initial: 5 * time.Millisecond, Max: 20 * time.Millisecond, Multiplier: 1.5, Jitter: 0.5}

// TestConcurrentAwaitRequestsOnce: replicas running the same job at once request the
// report once and all see it completed.
func TestConcurrentAwaitRequestsOnce(t *testing.T) {
	s := newStore(t, 5*time.Second)
	api := &fakeAPI{statuses: map[string]int{}}
	job := jobs.Job{Key: s.Key("run-1", "p1", "spCampaigns", "2024-06-01_2024-06-30"), RunID: "run-1", Profile: "p1"}
	var g errgroup.Group
	results := make([]jobs.Job, 5)
	for i := range results {
		g.Go(func() error {
			j, err := s.Await(context.Background(), job, api, fast)
			results[i] = j
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	if n := api.requests.Load(); n != 1 {
		t.Errorf("report requested %d times, want 1", n)
	}
	for _, j := range results {
		if j.Status != jobs.Completed || j.ReportID != "rep-p1" || j.URL == "" {
			t.Errorf("job = %+v", j)
		}
	}
	done, err := s.Finish(context.Background(), results[0], 3)
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.Await(context.Background(), job, api, fast)
	if err != nil || again.Status != jobs.Done || again.RowsEmitted != 3 || again.URL != "" || done.Status != jobs.Done {
		t.Errorf("after Finish: %+v, %v", again, err)
	}
}

// TestDeadClaimIsTakenOver: a claim whose owner died is taken over after ClaimTTL; a
// failed request releases its claim at once.
func TestDeadClaimIsTakenOver(t *testing.T) {
	s := newStore(t, 300*time.Millisecond)
	ctx := context.Background()
	job := jobs.Job{Key: s.Key("run", "p2"), Profile: "p2"}

	// A replica claims, then "dies" while its request hangs (ctx cancelled, no release
	// possible because the request never returned before the kill: simulated by a
	// blocked API and a cancelled context).
	blocked := &fakeAPI{statuses: map[string]int{}, block: make(chan struct{})}
	dctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { _, err := s.Await(dctx, job, blocked, fast); errc <- err }()
	time.Sleep(100 * time.Millisecond)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Await: %v", err)
	}

	api := &fakeAPI{statuses: map[string]int{}}
	j, err := s.Await(ctx, job, api, fast)
	if err != nil || j.Status != jobs.Completed || api.requests.Load() != 1 || j.Attempts != 2 {
		t.Fatalf("takeover: %+v, requests %d, %v", j, api.requests.Load(), err)
	}

	// With a claim TTL far longer than the test allows, the retry can only get through if
	// the failed request released its claim.
	long := newStore(t, time.Hour)
	failing := &fakeAPI{statuses: map[string]int{}, fail: errors.New("HTTP 500")}
	job2 := jobs.Job{Key: long.Key("run", "p3"), Profile: "p3"}
	if _, err := long.Await(ctx, job2, failing, fast); err == nil {
		t.Fatal("failing request: no error")
	}
	rctx, rcancel := context.WithTimeout(ctx, 30*time.Second)
	defer rcancel()
	if _, err := long.Await(rctx, job2, &fakeAPI{statuses: map[string]int{}}, fast); err != nil {
		t.Fatalf("retry after a failed request: %v (the claim was not released)", err)
	}
}

// hookAPI runs hook inside Request, before the report id is returned.
type hookAPI struct {
	*fakeAPI
	hook func(j jobs.Job)
}

func (h *hookAPI) Request(ctx context.Context, j jobs.Job) (string, error) {
	h.hook(j)
	return h.fakeAPI.Request(ctx, j)
}

// TestReportIDSurvivesATakeover: a replica whose claim lapsed while its request ran (it
// lost the bus for longer than ClaimTTL) still records the report it got, and the replica
// that took the claim over uses that report instead of requesting another (before: the
// report was requested twice).
func TestReportIDSurvivesATakeover(t *testing.T) {
	ttl := 300 * time.Millisecond
	s := newStore(t, ttl)
	ctx := context.Background()
	job := jobs.Job{Key: s.Key("run", "p4"), Profile: "p4"}
	other := &fakeAPI{statuses: map[string]int{}}
	var taker errgroup.Group
	var taken jobs.Job
	first := &hookAPI{fakeAPI: &fakeAPI{statuses: map[string]int{}}, hook: func(j jobs.Job) {
		// The claim lapses (its renewals cannot reach the bucket) ...
		cur, err := s.Get(ctx, j.Key)
		if err != nil {
			t.Error(err)
			return
		}
		cur.RequestedAt = time.Now().Add(-2 * ttl)
		if _, err := s.Save(ctx, cur); err != nil {
			t.Error(err)
			return
		}
		// ... and another replica takes it over while this request is still running.
		taker.Go(func() error {
			var err error
			taken, err = s.Await(ctx, job, other, fast)
			return err
		})
		time.Sleep(ttl / 3)
	}}
	j, err := s.Await(ctx, job, first, fast)
	if err != nil {
		t.Fatalf("first replica: %v", err)
	}
	if err := taker.Wait(); err != nil {
		t.Fatalf("second replica: %v", err)
	}
	if n := first.requests.Load() + other.requests.Load(); n != 1 {
		t.Fatalf("report requested %d times, want 1", n)
	}
	if j.ReportID != "rep-p4" || taken.ReportID != "rep-p4" || taken.Status != jobs.Completed {
		t.Fatalf("first %+v, second %+v", j, taken)
	}
}
