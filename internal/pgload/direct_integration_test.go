package pgload_test

import (
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/pgload"
	sluicev1 "github.com/sluice-dev/sluice/proto/sluice/v1"
)

// TestPlainCopyMeetingAnExistingKeyFallsBackToTheGuard loads, with a fresh Loader each
// time (so the plain COPY of new keys is always tried first), batches that mix new keys
// with keys the table holds in newer and older versions: the new keys are inserted, and
// the existing ones are kept or replaced exactly as the guarded upsert decides.
func TestPlainCopyMeetingAnExistingKeyFallsBackToTheGuard(t *testing.T) {
	pool, name := fixture(t)
	tb := itemsTable(name)
	cols := []string{"id", "name"}
	t1 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	t2 := t1.Add(time.Hour)

	if n := load(t, pgload.New(pool), tb, batch(t, name, "b", t2, cols, []*sluicev1.Value{i64(1), str("one b")}, []*sluicev1.Value{i64(2), str("two b")})); n != 2 {
		t.Fatalf("first load wrote %d rows, want 2", n)
	}
	// Key 1 held newer, key 2 held older than this batch; key 3 is new. The last row is the
	// conflicting one, so the plain copy has already sent the new key when it fails.
	n := load(t, pgload.New(pool), tb, batch(t, name, "a", t1, cols, []*sluicev1.Value{i64(3), str("three a")}, []*sluicev1.Value{i64(1), str("one a")}))
	if n != 1 {
		t.Errorf("older batch wrote %d rows, want 1 (the new key only)", n)
	}
	n = load(t, pgload.New(pool), tb, batch(t, name, "c", t2.Add(time.Hour), cols, []*sluicev1.Value{i64(4), str("four c")}, []*sluicev1.Value{i64(2), str("two c")}))
	if n != 2 {
		t.Errorf("newer batch wrote %d rows, want 2", n)
	}
	got := query(t, pool, "SELECT id::text, name, _record_id FROM "+name+" ORDER BY id")
	assertRows(t, got, [][]string{{"1", "one b", "b"}, {"2", "two c", "c"}, {"3", "three a", "a"}, {"4", "four c", "c"}})
}
