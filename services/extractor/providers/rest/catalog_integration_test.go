package rest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/services/extractor/provider"
	"github.com/sluice-dev/sluice/services/extractor/providers/rest"
	"github.com/sluice-dev/sluice/services/simulators/catalog/sim"
)

func runAll(t *testing.T, p provider.Provider, trig provider.Trigger, col *collector) error {
	t.Helper()
	tasks, err := p.Plan(context.Background(), trig)
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		task.RunID = trig.RunID
		if err := p.Run(context.Background(), task, col); err != nil {
			return err
		}
	}
	return nil
}

// TestCatalogExactRows extracts the whole catalog under 429s (no Retry-After on some),
// 5xx and slow answers, and transforms every record with the folder's specs: the rows are
// exactly the simulator's, hotels and rooms, for both suppliers' shapes.
func TestCatalogExactRows(t *testing.T) {
	scfg := sim.DefaultConfig()
	scfg.Hotels, scfg.KeyRate, scfg.KeyBurst = 640, 150, 2
	scfg.ErrorRate, scfg.SlowRate, scfg.Slow = 0.03, 0.02, 100*time.Millisecond
	b := newTestbed(t, scfg)
	// The provider is told a rate above the API's: the governor must find the limit.
	adaptive := false
	p := b.provider(&rest.Config{Rate: 300, Burst: 2, Fixed: &adaptive, Retry: rest.Retry{MaxAttempts: 20, InitialBackoff: "20ms", MaxBackoff: "500ms"}})
	col := &collector{}
	if err := runAll(t, p, provider.Trigger{RunID: "exact", Source: "cli"}, col); err != nil {
		t.Fatal(err)
	}
	wantHotels, wantRooms := sim.Rows(sim.Expected(scfg, time.Time{}))
	diff(t, "hotels", b.rows(col, "hotels"), wantHotels)
	diff(t, "rooms", b.rows(col, "rooms"), wantRooms)
	st := b.sim.Stats()
	if st.DetailOK != scfg.Hotels {
		t.Errorf("%d details fetched, want %d (one per hotel)", st.DetailOK, scfg.Hotels)
	}
	for _, k := range scfg.APIKeys {
		if st.PerKey[k] < st.Admitted/4 {
			t.Errorf("key %s made %d of %d calls: both keys must be used in parallel", k, st.PerKey[k], st.Admitted)
		}
	}
	t.Logf("sim: %+v", st)
}

// TestCatalogRestartResumesFromLastPage cancels a run after some pages were emitted (a
// killed extractor) and runs the task again: it goes on from the next page, requests no
// earlier page again (beyond the pages fetched ahead and not yet emitted), and the
// records of both attempts together are exactly the catalog.
func TestCatalogRestartResumesFromLastPage(t *testing.T) {
	scfg := sim.DefaultConfig()
	scfg.Hotels, scfg.KeyRate = 1200, 300
	b := newTestbed(t, scfg)
	cfg := &rest.Config{Rate: 300, Prefetch: 2}
	trig := provider.Trigger{RunID: "restart", Source: "cli"}
	p := b.provider(cfg)
	tasks, err := p.Plan(context.Background(), trig)
	if err != nil || len(tasks) != 1 {
		t.Fatalf("plan: %v %v", tasks, err)
	}
	task := tasks[0]
	task.RunID = trig.RunID

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const killAfter = 8 // records: 2 datasets × 4 pages
	col := &collector{after: func(n int) {
		if n == killAfter {
			cancel()
		}
	}}
	if err := p.Run(ctx, task, col); !errors.Is(err, context.Canceled) {
		t.Fatalf("first attempt: %v, want context.Canceled", err)
	}
	emitted := len(col.recs) / 2
	before := b.sim.PageRequests()

	// A new provider instance: the restarted extractor.
	col.after = nil
	if err := b.provider(&rest.Config{Rate: 300, Prefetch: 2}).Run(context.Background(), task, col); err != nil {
		t.Fatal(err)
	}
	after := b.sim.PageRequests()
	pageSize := int64(100)
	rerequested := 0
	for start, n := range after {
		page := int((start - 1) / pageSize)
		if page < emitted-1 && n != 1 {
			t.Errorf("page %d (emitted before the restart) requested %d times", page, n)
		}
		if n > 1 {
			rerequested++
		}
		if n > 2 {
			t.Errorf("page %d requested %d times", page, n)
		}
	}
	if rerequested > cfg.Prefetch {
		t.Errorf("%d pages requested again after the restart; at most the %d fetched and not emitted may be", rerequested, cfg.Prefetch)
	}
	if len(before) < emitted {
		t.Errorf("first attempt requested %d pages but emitted %d", len(before), emitted)
	}
	wantHotels, wantRooms := sim.Rows(sim.Expected(scfg, time.Time{}))
	diff(t, "hotels", b.rows(col, "hotels"), wantHotels)
	diff(t, "rooms", b.rows(col, "rooms"), wantRooms)
	t.Logf("emitted %d pages before the kill; %d pages requested twice", emitted, rerequested)
}

// TestCatalogIncremental runs twice: the second run sends the largest updated_at of the
// first as updated_since and extracts only what changed after it (nothing, here), and a
// full_refresh run extracts everything again.
func TestCatalogIncremental(t *testing.T) {
	scfg := sim.DefaultConfig()
	scfg.Hotels, scfg.KeyRate = 300, 300
	b := newTestbed(t, scfg)
	cfg := &rest.Config{Rate: 300}
	col := &collector{}
	if err := runAll(t, b.provider(cfg), provider.Trigger{RunID: "inc-1", Source: "schedule"}, col); err != nil {
		t.Fatal(err)
	}
	if d := b.sim.Stats().DetailOK; d != scfg.Hotels {
		t.Fatalf("first run fetched %d details, want %d", d, scfg.Hotels)
	}
	b.sim.Reset()
	col2 := &collector{}
	if err := runAll(t, b.provider(cfg), provider.Trigger{RunID: "inc-2", Source: "schedule"}, col2); err != nil {
		t.Fatal(err)
	}
	if d := b.sim.Stats().DetailOK; d != 0 || len(col2.recs) != 0 {
		t.Errorf("second run fetched %d details and emitted %d records; nothing changed since the first", d, len(col2.recs))
	}
	b.sim.Reset()
	col3 := &collector{}
	if err := runAll(t, b.provider(cfg), provider.Trigger{RunID: "inc-3", Source: "cli", Params: map[string]string{rest.FullRefreshParam: "true"}}, col3); err != nil {
		t.Fatal(err)
	}
	if d := b.sim.Stats().DetailOK; d != scfg.Hotels {
		t.Errorf("full refresh fetched %d details, want %d", d, scfg.Hotels)
	}
}
