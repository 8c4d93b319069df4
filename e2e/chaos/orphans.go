package chaos

import (
	"time"

	"github.com/sluice-dev/sluice/services/simulators/amazonads/sim"
)

// orphanWindow is how long before a kill -9 of an extractor a report it created may still
// lack a recorded id: the create call's answer, the rate governor's release and one
// key-value write, on a loaded machine.
const orphanWindow = 3 * time.Second

// orphanedByKills counts the reports nobody asked the status of that an extractor's
// SIGKILL explains: created at most orphanWindow before a kill of an extractor. The API
// has no way to find a report but by the id its create call answers, so an extractor
// killed between that answer and recording the id cannot but request the report again
// (a duplicate create is answered with the first id only while that report is in
// progress). An unasked report that no kill explains stays counted as requested twice.
func orphanedByKills(unasked []sim.Created, kills []kill) int64 {
	var n int64
	for _, r := range unasked {
		for _, k := range kills {
			if k.kind == Extractor && !r.CreatedAt.After(k.at) && k.at.Sub(r.CreatedAt) <= orphanWindow {
				n++
				break
			}
		}
	}
	return n
}

// excuseOrphans takes the reports that kills orphaned out of the reports requested twice.
func (e *Exactness) excuseOrphans(unasked []sim.Created, kills []kill) {
	e.ReportsOrphaned = min(orphanedByKills(unasked, kills), e.ReportsTwice)
	e.ReportsTwice -= e.ReportsOrphaned
}
