package amazonads_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/services/extractor/provider"
	"github.com/sluice-dev/sluice/services/extractor/providers/amazonads"
)

func TestExtractsExactRows(t *testing.T) {
	scfg := smallSim()
	scfg.Reports.URLTTL = 300 * time.Millisecond // urls expire: refreshed through the status call
	b := newTestbed(t, scfg)
	c := b.config()
	c.Records.MaxRows = 7 // several records per report
	p := b.provider(c)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	from, to := day(-40), day(-2) // two windows: 31 + 8 days
	col := newCollector()
	tasks := runAll(ctx, t, p, provider.Trigger{RunID: "t1", Source: "cli", From: from, To: to}, col)
	reportable := 3 // 4 profiles, one agency
	if want := reportable * 2 * 2; len(tasks) != want {
		t.Fatalf("planned %d tasks, want %d (profiles × report types × windows)", len(tasks), want)
	}
	for _, rt := range []string{amazonads.ReportSPCampaigns, amazonads.ReportSPAdGroups} {
		got, want := col.summary(t, amazonads.Dataset(rt)), b.expected(rt, from, to)
		if got != want {
			t.Errorf("%s: emitted %+v, simulator expects %+v", rt, got, want)
		}
	}
	st := b.sim.Stats()
	if st.ReportsCreated != int64(len(tasks)) {
		t.Errorf("reports created = %d, want %d", st.ReportsCreated, len(tasks))
	}
	for _, k := range col.keys() {
		if !strings.Contains(k, "/rows=") {
			t.Errorf("source key %s does not name its rows", k)
		}
	}
	// Every record carries its report's generation time as data version.
	for k, r := range col.recs {
		if v := time.Unix(0, r.DataVersion); r.DataVersion == 0 || v.Before(time.Now().Add(-2*time.Minute)) || v.After(time.Now()) {
			t.Errorf("record %s: data version %d (%v), want the report's generation time", k, r.DataVersion, v)
		}
	}

	// A second run of the same tasks finds the jobs done: no call, no record.
	before := b.sim.Stats().ReportsCreated
	again := newCollector()
	for _, task := range tasks {
		task.RunID = "t1"
		if err := p.Run(ctx, task, again); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(again.keys()); n != 0 || b.sim.Stats().ReportsCreated != before {
		t.Errorf("re-running finished tasks emitted %d records and created %d reports", n, b.sim.Stats().ReportsCreated-before)
	}
}

func TestRefreshesExpiredTokenOnce(t *testing.T) {
	scfg := smallSim()
	scfg.Profiles.Count, scfg.Profiles.AgencyShare = 1, 0
	// expires_in is rounded up to 2 s while the token dies after 1.2 s: calls between
	// meet 401 and the provider must refresh, once for all of them.
	scfg.Auth.TokenTTL = 1200 * time.Millisecond
	scfg.Reports.LatencyMedian, scfg.Reports.LatencyMax = 2500*time.Millisecond, 2500*time.Millisecond
	scfg.Reports.LatencySigma = 0.01
	scfg.Throttle.Status.ProfileRate, scfg.Throttle.Create.ProfileRate = 0, 0
	b := newTestbed(t, scfg)
	c := b.config()
	c.Poll.Max = amazonads.Duration(50 * time.Millisecond)
	c.Limits.Quotas[amazonads.ClassStatus] = amazonads.Quota{Rate: 20}
	p := b.provider(c)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	col := newCollector()
	runAll(ctx, t, p, provider.Trigger{RunID: "tok", Source: "cli", From: day(-3), To: day(-2)}, col)
	st := b.sim.Stats()
	if st.Unauthorized == 0 {
		t.Errorf("no 401 met; the test did not exercise the refresh (tokens issued %d)", st.TokensIssued)
	}
	if got, want := col.summary(t, "sp_campaigns"), b.expected(amazonads.ReportSPCampaigns, day(-3), day(-2)); got != want {
		t.Errorf("sp_campaigns: %+v, want %+v", got, want)
	}
	t.Logf("401s %d, tokens issued %d", st.Unauthorized, st.TokensIssued)
}

// TestResumesAfterInterruption stops a run while reports are being generated, then runs
// the same tasks with a new provider instance (as a restarted replica would): every
// report is polled to the end, none is requested twice, and no row is lost.
func TestResumesAfterInterruption(t *testing.T) {
	scfg := smallSim()
	scfg.Reports.LatencyMedian, scfg.Reports.LatencyMax = 400*time.Millisecond, time.Second
	b := newTestbed(t, scfg)
	c := b.config()
	from, to := day(-40), day(-2)
	trig := provider.Trigger{RunID: "resume", Source: "cli", From: from, To: to}

	ctx, cancel := context.WithCancel(context.Background())
	first := b.provider(c)
	tasks, err := first.Plan(ctx, trig)
	if err != nil {
		t.Fatal(err)
	}
	col := newCollector()
	done := make(chan error, len(tasks))
	for _, task := range tasks {
		task.RunID = trig.RunID
		go func() { done <- first.Run(ctx, task, col) }()
	}
	for b.sim.Stats().ReportsCreated < int64(len(tasks))/2 {
		time.Sleep(10 * time.Millisecond)
	}
	cancel() // the "crash": every task is interrupted wherever it is
	for range tasks {
		<-done
	}
	created := b.sim.Stats().ReportsCreated
	if created == int64(len(tasks)) && len(col.keys()) > 0 {
		t.Log("every report was requested before the interruption")
	}

	rctx, rcancel := context.WithTimeout(context.Background(), time.Minute)
	defer rcancel()
	// The restarted replica takes the redelivered tasks concurrently, as the runner does.
	// A create whose answer was lost in the crash is then still generating, so the API's
	// 425 names it and it is reused: a later sequential resume could find it finished,
	// and the API (which cannot list reports) would accept a second request.
	second := b.provider(c)
	errs := make(chan error, len(tasks))
	for _, task := range tasks {
		task.RunID = trig.RunID
		go func() {
			if err := second.Run(rctx, task, col); err != nil {
				errs <- fmt.Errorf("resumed %s: %w", task.Key, err)
				return
			}
			errs <- nil
		}()
	}
	for range tasks {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	st := b.sim.Stats()
	if st.ReportsCreated != int64(len(tasks)) {
		t.Errorf("reports created = %d (%d before the interruption), want %d: a report was requested twice or never", st.ReportsCreated, created, len(tasks))
	}
	for _, rt := range []string{amazonads.ReportSPCampaigns, amazonads.ReportSPAdGroups} {
		if got, want := col.summary(t, amazonads.Dataset(rt)), b.expected(rt, from, to); got != want {
			t.Errorf("%s: %+v, want %+v", rt, got, want)
		}
	}
}

// crashingEmitter publishes into c until a report's failAt-th record, which it refuses,
// as a replica dying mid-download would.
type crashingEmitter struct {
	c      *collector
	failAt int
	mu     sync.Mutex
	n      map[string]int // records per report (source key without its rows)
}

func (e *crashingEmitter) Emit(ctx context.Context, r provider.Raw) error {
	report := r.SourceKey[:strings.LastIndex(r.SourceKey, "/")]
	e.mu.Lock()
	e.n[report]++
	n := e.n[report]
	e.mu.Unlock()
	if n >= e.failAt {
		return errors.New("replica died")
	}
	return e.c.Emit(ctx, r)
}

// TestResumeWithOtherChunkingLosesNoRow: a download dies after some records were
// published and their progress recorded; the replica that resumes it runs with another
// records.max_rows (a rollout in between). Every row of every report must still be
// emitted. With progress counted in records, the resume skipped as many records of the
// new, larger size, and the rows between were never published.
func TestResumeWithOtherChunkingLosesNoRow(t *testing.T) {
	b := newTestbed(t, smallSim())
	from, to := day(-40), day(-2)
	trig := provider.Trigger{RunID: "rechunk", Source: "cli", From: from, To: to}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	before := b.config()
	before.Records.MaxRows = 2
	first := b.provider(before)
	tasks, err := first.Plan(ctx, trig)
	if err != nil {
		t.Fatal(err)
	}
	col := newCollector()
	// 20 records of 2 rows: progress is recorded after the 16th, then the replica dies.
	crash := &crashingEmitter{c: col, failAt: 20, n: map[string]int{}}
	interrupted := 0
	for _, task := range tasks {
		task.RunID = trig.RunID
		if err := first.Run(ctx, task, crash); err != nil {
			interrupted++
		}
	}
	if interrupted == 0 {
		t.Fatal("no download was interrupted: the reports are too small for this test")
	}

	after := b.config()
	after.Records.MaxRows = 5
	second := b.provider(after)
	for _, task := range tasks {
		task.RunID = trig.RunID
		if err := second.Run(ctx, task, col); err != nil {
			t.Fatalf("resumed %s: %v", task.Key, err)
		}
	}
	if st := b.sim.Stats(); st.ReportsCreated != int64(len(tasks)) {
		t.Errorf("reports created = %d, want %d", st.ReportsCreated, len(tasks))
	}
	for _, rt := range []string{amazonads.ReportSPCampaigns, amazonads.ReportSPAdGroups} {
		if got, want := col.distinctSummary(t, amazonads.Dataset(rt)), b.expected(rt, from, to); got != want {
			t.Errorf("%s: emitted %+v, simulator expects %+v (%d of %d downloads interrupted)", rt, got, want, interrupted, len(tasks))
		}
	}
	for _, k := range col.keys() {
		if !strings.Contains(k, "/rows=") {
			t.Errorf("source key %s does not name its rows", k)
		}
	}
}
