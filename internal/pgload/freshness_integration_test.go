package pgload_test

import (
	"context"
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/pgload"
	"github.com/sluice-dev/sluice/internal/rowbatch"
	sluicev1 "github.com/sluice-dev/sluice/proto/sluice/v1"
)

// versioned is batch with a data version (sluice.v1.RowBatch.data_version).
func versioned(t *testing.T, table, record string, extracted time.Time, version int64, cols []string, rows ...[]*sluicev1.Value) *rowbatch.Batch {
	t.Helper()
	b := batch(t, table, record, extracted, cols, rows...)
	b.DataVersion = version
	return b
}

// TestOlderReportResumedLateDoesNotOverwrite: the rows of a report generated earlier but
// extracted later (a job resumed after a long outage, or a replica with a clock ahead)
// must not replace the rows of a fresher report. Ordering by extraction time alone let
// them through.
func TestOlderReportResumedLateDoesNotOverwrite(t *testing.T) {
	pool, name := fixture(t)
	l := pgload.New(pool)
	tb := itemsTable(name)
	cols := []string{"id", "name"}
	gen1 := time.Date(2025, 1, 1, 6, 0, 0, 0, time.UTC) // the older report's generation
	gen2 := gen1.Add(24 * time.Hour)                    // the fresher report's
	ext := time.Date(2025, 1, 3, 0, 0, 0, 0, time.UTC)

	load(t, l, tb, versioned(t, name, "fresh", ext, gen2.UnixNano(), cols, []*sluicev1.Value{i64(1), str("fresh")}))
	if n := load(t, l, tb, versioned(t, name, "stale", ext.Add(time.Hour), gen1.UnixNano(), cols, []*sluicev1.Value{i64(1), str("stale")})); n != 0 {
		t.Errorf("the older report extracted later wrote %d rows, want 0", n)
	}
	assertRows(t, query(t, pool, "SELECT name, _record_id, _data_version::text FROM "+name), [][]string{{"fresh", "fresh", itoa(gen2.UnixNano())}})

	// Within one batch too: the fresher data wins whatever the extraction times.
	tu, err := pgload.NewTuples(tb, time.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	newer := versioned(t, name, "newer", ext, gen2.Add(time.Hour).UnixNano(), cols, []*sluicev1.Value{i64(2), str("newer")})
	older := versioned(t, name, "older", ext.Add(time.Hour), gen1.UnixNano(), cols, []*sluicev1.Value{i64(2), str("older")})
	for _, b := range []*rowbatch.Batch{newer, older} {
		bind, _ := tb.Bind(b.Columns)
		if _, err := tu.Append(b, bind, b.Rows[0]); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.Upsert(context.Background(), tu, tu.Live()); err != nil {
		t.Fatal(err)
	}
	assertRows(t, query(t, pool, "SELECT name FROM "+name+" WHERE id = 2"), [][]string{{"newer"}})

	// Equal versions: the later extraction wins, as before data versions.
	load(t, l, tb, versioned(t, name, "refetch", ext.Add(2*time.Hour), gen2.UnixNano(), cols, []*sluicev1.Value{i64(1), str("refetched")}))
	assertRows(t, query(t, pool, "SELECT name FROM "+name+" WHERE id = 1"), [][]string{{"refetched"}})
}

// TestRowsWithoutDataVersionOrderByExtraction: a source that gives no version keeps the
// old order (extraction time), also against rows loaded before the column existed.
func TestRowsWithoutDataVersionOrderByExtraction(t *testing.T) {
	pool, name := fixture(t)
	ctx := context.Background()
	// A table as an older loader created it: no _data_version column.
	if _, err := pool.Exec(ctx, "CREATE TABLE "+name+" (id bigint, name text, _record_id text NOT NULL, _trace_id text, "+
		"_extracted_at timestamptz NOT NULL, _loaded_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (id))"); err != nil {
		t.Fatal(err)
	}
	t1 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := pool.Exec(ctx, "INSERT INTO "+name+" (id, name, _record_id, _extracted_at) VALUES (1, 'legacy', 'legacy', $1), (2, 'legacy', 'legacy', $1)", t1); err != nil {
		t.Fatal(err)
	}
	l := pgload.New(pool)
	tb := itemsTable(name)
	cols := []string{"id", "name"}
	load(t, l, tb,
		batch(t, name, "older", t1.Add(-time.Hour), cols, []*sluicev1.Value{i64(1), str("older")}),
		batch(t, name, "newer", t1.Add(time.Hour), cols, []*sluicev1.Value{i64(2), str("newer")}))
	assertRows(t, query(t, pool, "SELECT id::text, name, coalesce(_data_version::text, 'null') FROM "+name+" ORDER BY id"),
		[][]string{{"1", "legacy", "null"}, {"2", "newer", "null"}})
}

// TestKeysEqualByValueAreOneKey: numeric 1, 1.0 and 1.00 and float -0 and 0 are one key to
// PostgreSQL though their COPY encodings differ; a batch holding such a key twice must
// load its newest version instead of failing the statement (SQLSTATE 21000, one row
// touched twice), which sent the whole table group to the DLQ.
func TestKeysEqualByValueAreOneKey(t *testing.T) {
	pool, name := fixture(t)
	l := pgload.New(pool)
	t1 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name     string
		keyType  string
		keys     []*sluicev1.Value // one key, in several encodings, oldest first
		distinct *sluicev1.Value   // a key that must stay separate
	}{
		{"numeric scales", "numeric", []*sluicev1.Value{dec("1"), dec("1.0"), dec("1.00"), dec("1e0")}, dec("1.001")},
		{"numeric zero", "numeric", []*sluicev1.Value{dec("0"), dec("-0.0"), dec("0.000")}, dec("0.0001")},
		{"float zero", "double precision", []*sluicev1.Value{flt(0), flt(math.Copysign(0, -1))}, flt(1e-300)},
		{"float NaN", "double precision", []*sluicev1.Value{flt(math.NaN()), flt(math.Float64frombits(0xfff8000000000000))}, flt(math.Inf(1))},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			table := name + "_" + itoa(int64(i))
			t.Cleanup(func() { _, _ = pool.Exec(context.Background(), "DROP TABLE IF EXISTS "+table) })
			tb := pgload.Table{Name: table, PrimaryKey: []string{"k"}, Columns: []pgload.Column{{Name: "k", Type: c.keyType}, {Name: "v", Type: "text"}}}
			cols := []string{"k", "v"}
			var batches []*rowbatch.Batch
			for j, k := range c.keys {
				batches = append(batches, batch(t, table, "r"+itoa(int64(j)), t1.Add(time.Duration(j)*time.Minute), cols, []*sluicev1.Value{k, str("version " + itoa(int64(j)))}))
			}
			batches = append(batches, batch(t, table, "other", t1, cols, []*sluicev1.Value{c.distinct, str("other")}))
			if n := load(t, l, tb, batches...); n != 2 {
				t.Errorf("wrote %d rows, want 2 (one per distinct key)", n)
			}
			got := query(t, pool, "SELECT v, _record_id FROM "+table+" WHERE v <> 'other'")
			assertRows(t, got, [][]string{{"version " + itoa(int64(len(c.keys)-1)), "r" + itoa(int64(len(c.keys)-1))}})
		})
	}
}

func flt(f float64) *sluicev1.Value { return &sluicev1.Value{Kind: &sluicev1.Value_Float{Float: f}} }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
