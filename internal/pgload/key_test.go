package pgload

import (
	"fmt"
	"math"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sluice-dev/sluice/internal/rowbatch"
	sluicev1 "github.com/sluice-dev/sluice/proto/sluice/v1"
)

// TestDedupeComparesKeyValues: rows whose keys PostgreSQL holds equal are one key in a
// batch, whatever their encoding; the newest (data version, then extraction) survives.
func TestDedupeComparesKeyValues(t *testing.T) {
	t.Parallel()
	decimal := func(s string) *sluicev1.Value { return &sluicev1.Value{Kind: &sluicev1.Value_Decimal{Decimal: s}} }
	float := func(f float64) *sluicev1.Value { return &sluicev1.Value{Kind: &sluicev1.Value_Float{Float: f}} }
	text := func(s string) *sluicev1.Value { return &sluicev1.Value{Kind: &sluicev1.Value_String_{String_: s}} }
	stamp := func(t time.Time) *sluicev1.Value {
		return &sluicev1.Value{Kind: &sluicev1.Value_Timestamp{Timestamp: timestamppb.New(t)}}
	}
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name    string
		typ     string
		keys    []*sluicev1.Value
		wantLen int
	}{
		{"numeric scales", "numeric", []*sluicev1.Value{decimal("1"), decimal("1.0"), decimal("1.00"), decimal("1e0"), decimal("10e-1")}, 1},
		{"numeric zeros", "numeric", []*sluicev1.Value{decimal("0"), decimal("-0"), decimal("0.00"), decimal("0e5")}, 1},
		{"numeric values differ", "numeric", []*sluicev1.Value{decimal("1"), decimal("1.0001"), decimal("-1"), decimal("10")}, 4},
		{"float zeros", "double precision", []*sluicev1.Value{float(0), float(math.Copysign(0, -1))}, 1},
		{"float NaNs", "double precision", []*sluicev1.Value{float(math.NaN()), float(math.Float64frombits(0x7ff8000000000001)), float(math.Float64frombits(0xfff8000000000000))}, 1},
		{"floats differ", "double precision", []*sluicev1.Value{float(1), float(-1), float(math.Inf(1)), float(math.Inf(-1))}, 4},
		{"text by bytes", "text", []*sluicev1.Value{text("a"), text("A"), text("a ")}, 3},
		{"timestamps by instant", "timestamptz", []*sluicev1.Value{stamp(at), stamp(at.In(time.FixedZone("x", 3600)))}, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			tb := Table{Name: "t", PrimaryKey: []string{"k"}, Columns: []Column{{Name: "k", Type: c.typ}, {Name: "v", Type: "text"}}}
			ts, err := NewTuples(tb, at, 0)
			if err != nil {
				t.Fatal(err)
			}
			var last int
			for i, k := range c.keys {
				b := testBatch(t, at.Add(time.Duration(i)*time.Second), 0, []string{"k", "v"}, []*sluicev1.Value{k, text("x")})
				bind, err := tb.Bind(b.Columns)
				if err != nil {
					t.Fatal(err)
				}
				if last, err = ts.Append(b, bind, b.Rows[0]); err != nil {
					t.Fatal(err)
				}
			}
			live := ts.Live()
			if len(live) != c.wantLen {
				t.Fatalf("%d rows survive, want %d", len(live), c.wantLen)
			}
			if c.wantLen == 1 && live[0] != last {
				t.Errorf("row %d survives, want the newest, %d", live[0], last)
			}
		})
	}
}

// TestDedupeOrdersByDataVersion: a row of fresher data survives a row extracted later.
func TestDedupeOrdersByDataVersion(t *testing.T) {
	t.Parallel()
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	key := &sluicev1.Value{Kind: &sluicev1.Value_Int{Int: 1}}
	tb := Table{Name: "t", PrimaryKey: []string{"k"}, Columns: []Column{{Name: "k", Type: "bigint"}}}
	cases := []struct {
		name string
		// extraction offsets and data versions of two rows of one key; want the index that survives
		ext  [2]time.Duration
		ver  [2]int64
		want int
	}{
		{"fresher data extracted earlier wins", [2]time.Duration{0, time.Hour}, [2]int64{200, 100}, 0},
		{"equal versions: later extraction", [2]time.Duration{time.Hour, 0}, [2]int64{100, 100}, 0},
		{"no versions: later extraction", [2]time.Duration{0, time.Hour}, [2]int64{0, 0}, 1},
		{"ties: the later row", [2]time.Duration{0, 0}, [2]int64{5, 5}, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ts, err := NewTuples(tb, at, 0)
			if err != nil {
				t.Fatal(err)
			}
			for i := range 2 {
				b := testBatch(t, at.Add(c.ext[i]), c.ver[i], []string{"k"}, []*sluicev1.Value{key})
				bind, _ := tb.Bind(b.Columns)
				if _, err := ts.Append(b, bind, b.Rows[0]); err != nil {
					t.Fatal(err)
				}
			}
			if live := ts.Live(); len(live) != 1 || live[0] != c.want {
				t.Errorf("live %v, want [%d]", live, c.want)
			}
		})
	}
}

func testBatch(t *testing.T, extracted time.Time, version int64, cols []string, values []*sluicev1.Value) *rowbatch.Batch {
	t.Helper()
	return parseBatch(t, &sluicev1.RowBatch{Table: "t", RecordId: "r", ExtractedAt: timestamppb.New(extracted), DataVersion: version,
		Columns: cols, Rows: []*sluicev1.Row{{Values: values}}})
}

// parseBatch encodes rb as the transformer does and reads it as the loader does.
func parseBatch(t *testing.T, rb *sluicev1.RowBatch) *rowbatch.Batch {
	t.Helper()
	data, err := proto.Marshal(rb)
	if err != nil {
		t.Fatal(err)
	}
	b, err := rowbatch.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestOlderChainsVersionsNewestFirst: whatever the order rows arrive in, the versions of a
// key chain from the survivor down by freshness, so the loader falls back to the next
// freshest when the database refuses one.
func TestOlderChainsVersionsNewestFirst(t *testing.T) {
	t.Parallel()
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	key := &sluicev1.Value{Kind: &sluicev1.Value_Int{Int: 1}}
	tb := Table{Name: "t", PrimaryKey: []string{"k"}, Columns: []Column{{Name: "k", Type: "bigint"}}}
	cases := []struct {
		name     string
		versions []int64 // data version of each row, in arrival order
		want     []int   // positions from the survivor down
	}{
		{"ascending", []int64{1, 2, 3}, []int{2, 1, 0}},
		{"descending", []int64{3, 2, 1}, []int{0, 1, 2}},
		{"mixed", []int64{2, 5, 1, 4, 3}, []int{1, 3, 4, 0, 2}},
		{"ties: later first", []int64{2, 2, 1}, []int{1, 0, 2}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ts, err := NewTuples(tb, at, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range c.versions {
				b := testBatch(t, at, v, []string{"k"}, []*sluicev1.Value{key})
				bind, _ := tb.Bind(b.Columns)
				if _, err := ts.Append(b, bind, b.Rows[0]); err != nil {
					t.Fatal(err)
				}
			}
			live := ts.Live()
			if len(live) != 1 {
				t.Fatalf("live %v", live)
			}
			var got []int
			for i := live[0]; i >= 0; i = ts.Older(i) {
				got = append(got, i)
			}
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("chain %v, want %v", got, c.want)
			}
		})
	}
}
