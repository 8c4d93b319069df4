package chaos

import (
	"testing"
	"time"

	"github.com/sluice-dev/sluice/services/simulators/amazonads/sim"
)

func TestExcuseOrphans(t *testing.T) {
	t.Parallel()
	t0 := time.Now()
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	report := func(d time.Duration) sim.Created { return sim.Created{ReportID: d.String(), CreatedAt: at(d)} }
	for _, tc := range []struct {
		name            string
		created, wanted int64
		unasked         []sim.Created
		kills           []kill
		orphaned, twice int64
	}{
		{name: "no excess", created: 16, wanted: 16, twice: 0},
		{name: "excess without orphans", created: 17, wanted: 16, kills: []kill{{Extractor, at(time.Second)}}, twice: 1},
		{name: "orphan just before an extractor kill", created: 17, wanted: 16,
			unasked: []sim.Created{report(0)}, kills: []kill{{Extractor, at(100 * time.Millisecond)}}, orphaned: 1},
		{name: "orphan of the kill's own instant", created: 17, wanted: 16,
			unasked: []sim.Created{report(0)}, kills: []kill{{Extractor, at(0)}}, orphaned: 1},
		{name: "orphan created after the kill", created: 17, wanted: 16,
			unasked: []sim.Created{report(time.Second)}, kills: []kill{{Extractor, at(0)}}, twice: 1},
		{name: "orphan long before the kill", created: 17, wanted: 16,
			unasked: []sim.Created{report(0)}, kills: []kill{{Extractor, at(orphanWindow + time.Millisecond)}}, twice: 1},
		{name: "kill of another stage", created: 17, wanted: 16,
			unasked: []sim.Created{report(0)}, kills: []kill{{Loader, at(10 * time.Millisecond)}}, twice: 1},
		{name: "one orphan explained, one not", created: 18, wanted: 16,
			unasked: []sim.Created{report(0), report(20 * time.Second)}, kills: []kill{{Extractor, at(time.Second)}}, orphaned: 1, twice: 1},
		{name: "orphans never exceed the excess", created: 16, wanted: 16,
			unasked: []sim.Created{report(0)}, kills: []kill{{Extractor, at(time.Second)}}, orphaned: 0, twice: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// As Verify leaves it: the excess of created reports over the run's tasks.
			e := Exactness{ReportsCreated: tc.created, ReportsExpected: tc.wanted, ReportsTwice: max(0, tc.created-tc.wanted)}
			e.excuseOrphans(tc.unasked, tc.kills)
			if e.ReportsOrphaned != tc.orphaned || e.ReportsTwice != tc.twice {
				t.Errorf("orphaned %d, twice %d; want %d, %d", e.ReportsOrphaned, e.ReportsTwice, tc.orphaned, tc.twice)
			}
			if (tc.twice == 0) != e.Exact() {
				t.Errorf("Exact() = %v with %d requested twice", e.Exact(), e.ReportsTwice)
			}
		})
	}
}
