package pgload_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sluice-dev/sluice/internal/pgload"
	"github.com/sluice-dev/sluice/internal/rowbatch"
	"github.com/sluice-dev/sluice/internal/testinfra"
	sluicev1 "github.com/sluice-dev/sluice/proto/sluice/v1"
)

// fixture is a pool and a table name unique to one test, dropped at its end.
func fixture(t *testing.T) (*pgxpool.Pool, string) {
	t.Helper()
	env := testinfra.Require(t, testinfra.Postgres)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, env.PostgresURL)
	if err != nil {
		t.Fatal(err)
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := "pgload_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		_, _ = pool.Exec(context.Background(), "DROP TABLE IF EXISTS "+name)
		pool.Close()
	})
	return pool, name
}

func str(s string) *sluicev1.Value { return &sluicev1.Value{Kind: &sluicev1.Value_String_{String_: s}} }
func i64(n int64) *sluicev1.Value  { return &sluicev1.Value{Kind: &sluicev1.Value_Int{Int: n}} }
func null() *sluicev1.Value        { return &sluicev1.Value{Kind: &sluicev1.Value_Null{Null: true}} }
func ts(t time.Time) *sluicev1.Value {
	return &sluicev1.Value{Kind: &sluicev1.Value_Timestamp{Timestamp: timestamppb.New(t)}}
}
func dec(s string) *sluicev1.Value { return &sluicev1.Value{Kind: &sluicev1.Value_Decimal{Decimal: s}} }

// batch encodes a RowBatch the way the transformer does and reads it back the way the
// loader does.
func batch(t *testing.T, table, record string, extracted time.Time, cols []string, rows ...[]*sluicev1.Value) *rowbatch.Batch {
	t.Helper()
	rb := &sluicev1.RowBatch{Table: table, Provider: "p", Dataset: "d", SpecVersion: 1, RecordId: record,
		TraceId: "0af7651916cd43dd8448eb211c80319c", ExtractedAt: timestamppb.New(extracted), Columns: cols}
	for i, r := range rows {
		rb.Rows = append(rb.Rows, &sluicev1.Row{Index: int64(i), Values: r})
	}
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

// load encodes and upserts batches in one transaction, as one loader batch would.
func load(t *testing.T, l *pgload.Loader, tb pgload.Table, batches ...*rowbatch.Batch) int64 {
	t.Helper()
	ctx := context.Background()
	if err := l.Ensure(ctx, tb); err != nil {
		t.Fatal(err)
	}
	tu, err := pgload.NewTuples(tb, time.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range batches {
		bind, err := tb.Bind(b.Columns)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range b.Rows {
			if _, err := tu.Append(b, bind, r); err != nil {
				t.Fatalf("append row %d: %v", r.Index(), err)
			}
		}
	}
	n, err := l.Upsert(ctx, tu, tu.Live())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func query(t *testing.T, pool *pgxpool.Pool, sql string) [][]string {
	t.Helper()
	rows, err := pool.Query(context.Background(), sql)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([]string, error) {
		vals, err := r.Values()
		if err != nil {
			return nil, err
		}
		s := make([]string, len(vals))
		for i, v := range vals {
			if v == nil {
				s[i] = "NULL"
			} else {
				s[i] = v.(string)
			}
		}
		return s, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestEveryTypeRoundTrips(t *testing.T) {
	pool, name := fixture(t)
	tb := pgload.Table{Name: name, PrimaryKey: []string{"id"}, Columns: []pgload.Column{
		{Name: "id", Type: "bigint"}, {Name: "small", Type: "integer"}, {Name: "label", Type: "text"},
		{Name: "ratio", Type: "double precision"}, {Name: "amount", Type: "numeric"}, {Name: "ok", Type: "boolean"},
		{Name: "day", Type: "date"}, {Name: "at", Type: "timestamptz"}, {Name: "doc", Type: "jsonb"},
	}}
	cols := []string{"id", "small", "label", "ratio", "amount", "ok", "day", "at", "doc"}
	at := time.Date(2024, 2, 29, 13, 14, 15, 123456789, time.UTC)
	extracted := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	b := batch(t, name, "rec1", extracted, cols,
		[]*sluicev1.Value{i64(1), i64(-2147483648), str("Grüße, \"quoted\"\ttab"), {Kind: &sluicev1.Value_Float{Float: 0.1}}, dec("14.50"),
			{Kind: &sluicev1.Value_Bool{Bool: true}}, ts(time.Date(1999, 12, 31, 0, 0, 0, 0, time.UTC)), ts(at), {Kind: &sluicev1.Value_Json{Json: `{"a": [1, 2]}`}}},
		[]*sluicev1.Value{i64(math.MaxInt64), i64(7), null(), i64(3), i64(-5), {Kind: &sluicev1.Value_Bool{}}, ts(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)), null(), null()},
		[]*sluicev1.Value{i64(3), null(), dec("-0.00"), null(), dec("1.5e-3"), null(), null(), ts(time.Unix(0, 0)), {Kind: &sluicev1.Value_Json{Json: `"x"`}}},
		[]*sluicev1.Value{i64(4), {}, str(""), {Kind: &sluicev1.Value_Float{Float: -1e300}}, {Kind: &sluicev1.Value_Float{Float: 2.25}}, null(), null(), null(), null()},
	)
	if n := load(t, pgload.New(pool), tb, b); n != 4 {
		t.Fatalf("upsert wrote %d rows, want 4", n)
	}
	got := query(t, pool, "SELECT id::text, small::text, label, ratio::text, amount::text, ok::text, day::text, (at AT TIME ZONE 'UTC')::text, doc::text, _record_id, _trace_id, (_extracted_at AT TIME ZONE 'UTC')::text FROM "+name+" ORDER BY id")
	want := [][]string{
		{"1", "-2147483648", "Grüße, \"quoted\"\ttab", "0.1", "14.50", "true", "1999-12-31", "2024-02-29 13:14:15.123456", `{"a": [1, 2]}`, "rec1", "0af7651916cd43dd8448eb211c80319c", "2025-01-01 00:00:00"},
		{"3", "NULL", "-0.00", "NULL", "0.0015", "NULL", "NULL", "1970-01-01 00:00:00", `"x"`, "rec1", "0af7651916cd43dd8448eb211c80319c", "2025-01-01 00:00:00"},
		{"4", "NULL", "", "-1e+300", "2.25", "NULL", "NULL", "NULL", "NULL", "rec1", "0af7651916cd43dd8448eb211c80319c", "2025-01-01 00:00:00"},
		{"9223372036854775807", "7", "NULL", "3", "-5", "false", "2026-03-01", "NULL", "NULL", "rec1", "0af7651916cd43dd8448eb211c80319c", "2025-01-01 00:00:00"},
	}
	assertRows(t, got, want)
}

// TestByteaRoundTrips loads bytes (empty ones and NUL bytes included) into a bytea column
// and refuses a value of another kind there.
func TestByteaRoundTrips(t *testing.T) {
	pool, name := fixture(t)
	tb := pgload.Table{Name: name, PrimaryKey: []string{"id"}, Columns: []pgload.Column{{Name: "id", Type: "bigint"}, {Name: "blob", Type: "bytea"}}}
	blob := func(b []byte) *sluicev1.Value { return &sluicev1.Value{Kind: &sluicev1.Value_Bytes{Bytes: b}} }
	b := batch(t, name, "rec1", time.Now(), []string{"id", "blob"},
		[]*sluicev1.Value{i64(1), blob([]byte{0, 1, 0xff, '\\'})},
		[]*sluicev1.Value{i64(2), blob([]byte{})},
		[]*sluicev1.Value{i64(3), null()},
	)
	if n := load(t, pgload.New(pool), tb, b); n != 3 {
		t.Fatalf("upsert wrote %d rows, want 3", n)
	}
	assertRows(t, query(t, pool, "SELECT id::text, COALESCE(encode(blob, 'hex'), 'NULL') FROM "+name+" ORDER BY id"),
		[][]string{{"1", "0001ff5c"}, {"2", ""}, {"3", "NULL"}})

	tu, err := pgload.NewTuples(tb, time.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	bad := batch(t, name, "rec2", time.Now(), []string{"id", "blob"}, []*sluicev1.Value{i64(4), str("not bytes")})
	bind, err := tb.Bind(bad.Columns)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tu.Append(bad, bind, bad.Rows[0]); err == nil || !strings.Contains(err.Error(), "bytea") {
		t.Fatalf("a string in a bytea column: %v, want an error naming bytea", err)
	}
}

func assertRows(t *testing.T, got, want [][]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d rows %q, want %d %q", len(got), got, len(want), want)
	}
	for i := range want {
		for j := range want[i] {
			if got[i][j] != want[i][j] {
				t.Errorf("row %d column %d = %q, want %q", i, j, got[i][j], want[i][j])
			}
		}
	}
}

func TestRowsThatCannotBeConvertedAreRefused(t *testing.T) {
	t.Parallel()
	tb := pgload.Table{Name: "t", PrimaryKey: []string{"id"}, Columns: []pgload.Column{
		{Name: "id", Type: "bigint"}, {Name: "small", Type: "integer"}, {Name: "label", Type: "text"}, {Name: "amount", Type: "numeric"}, {Name: "doc", Type: "jsonb"},
	}}
	cols := []string{"id", "small", "label", "amount", "doc"}
	cases := []struct {
		name   string
		row    []*sluicev1.Value
		column string
	}{
		{"integer out of range", []*sluicev1.Value{i64(1), i64(1 << 40), null(), null(), null()}, "small"},
		{"null key", []*sluicev1.Value{null(), i64(1), null(), null(), null()}, "id"},
		{"string for bigint", []*sluicev1.Value{str("1"), null(), null(), null(), null()}, "id"},
		{"NUL in text", []*sluicev1.Value{i64(1), null(), str("a\x00b"), null(), null()}, "label"},
		{"bad decimal", []*sluicev1.Value{i64(1), null(), null(), dec("1,5"), null()}, "amount"},
		{"bad json", []*sluicev1.Value{i64(1), null(), null(), null(), {Kind: &sluicev1.Value_Json{Json: "{"}}}, "doc"},
		{"too few values", []*sluicev1.Value{i64(1)}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b := batch(t, "t", "r", time.Now(), cols, c.row)
			bind, err := tb.Bind(b.Columns)
			if err != nil {
				t.Fatal(err)
			}
			tu, err := pgload.NewTuples(tb, time.Now(), 0)
			if err != nil {
				t.Fatal(err)
			}
			_, err = tu.Append(b, bind, b.Rows[0])
			var re *pgload.RowError
			if !errors.As(err, &re) {
				t.Fatalf("Append = %v, want a *RowError", err)
			}
			if re.Column != c.column {
				t.Errorf("error %q names column %q, want %q", err, re.Column, c.column)
			}
			if tu.Len() != 0 {
				t.Errorf("a refused row was kept")
			}
		})
	}
}

func TestBindRefusesColumnsTheTableLacks(t *testing.T) {
	t.Parallel()
	tb := pgload.Table{Name: "t", PrimaryKey: []string{"id"}, Columns: []pgload.Column{{Name: "id", Type: "bigint"}, {Name: "b", Type: "text"}}}
	if _, err := tb.Bind([]string{"id", "c"}); err == nil {
		t.Error("Bind accepted column c, which the table lacks")
	}
	if _, err := tb.Bind([]string{"id"}); err != nil {
		t.Errorf("Bind of an older spec's columns: %v", err)
	}
}
