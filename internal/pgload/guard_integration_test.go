package pgload_test

import (
	"context"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/pgload"
	sluicev1 "github.com/sluice-dev/sluice/proto/sluice/v1"
)

func itemsTable(name string) pgload.Table {
	return pgload.Table{Name: name, PrimaryKey: []string{"id"}, Columns: []pgload.Column{{Name: "id", Type: "bigint"}, {Name: "name", Type: "text"}}}
}

func TestMonotonicGuard(t *testing.T) {
	pool, name := fixture(t)
	l := pgload.New(pool)
	tb := itemsTable(name)
	cols := []string{"id", "name"}
	t1 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	t2 := t1.Add(time.Hour)
	snapshot := func() [][]string {
		return query(t, pool, "SELECT id::text, name, _record_id, _loaded_at::text FROM "+name+" ORDER BY id")
	}

	if n := load(t, l, tb, batch(t, name, "new", t2, cols, []*sluicev1.Value{i64(1), str("newer")}, []*sluicev1.Value{i64(2), str("two")})); n != 2 {
		t.Fatalf("first load wrote %d rows, want 2", n)
	}
	before := snapshot()

	// An older extraction replayed later changes nothing.
	if n := load(t, l, tb, batch(t, name, "old", t1, cols, []*sluicev1.Value{i64(1), str("older")}, []*sluicev1.Value{i64(2), str("old two")})); n != 0 {
		t.Errorf("older extraction wrote %d rows, want 0", n)
	}
	assertRows(t, snapshot(), before)

	// The same extraction again (a redelivery or replay) changes nothing, not even _loaded_at.
	if n := load(t, l, tb, batch(t, name, "new", t2, cols, []*sluicev1.Value{i64(1), str("newer")}, []*sluicev1.Value{i64(2), str("two")})); n != 0 {
		t.Errorf("identical batch wrote %d rows, want 0", n)
	}
	assertRows(t, snapshot(), before)

	// The same extraction with different content (a new spec version) updates what changed.
	if n := load(t, l, tb, batch(t, name, "new", t2, cols, []*sluicev1.Value{i64(1), str("NEWER")}, []*sluicev1.Value{i64(2), str("two")})); n != 1 {
		t.Errorf("changed batch wrote %d rows, want 1", n)
	}
	// A newer extraction wins.
	if n := load(t, l, tb, batch(t, name, "newest", t2.Add(time.Hour), cols, []*sluicev1.Value{i64(2), str("newest two")})); n != 1 {
		t.Errorf("newer extraction wrote %d rows, want 1", n)
	}
	got := query(t, pool, "SELECT id::text, name, _record_id FROM "+name+" ORDER BY id")
	assertRows(t, got, [][]string{{"1", "NEWER", "new"}, {"2", "newest two", "newest"}})
}

func TestDuplicateKeysInOneBatchKeepTheNewest(t *testing.T) {
	pool, name := fixture(t)
	tb := itemsTable(name)
	cols := []string{"id", "name"}
	t1 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	n := load(t, pgload.New(pool), tb,
		batch(t, name, "b", t1.Add(time.Hour), cols, []*sluicev1.Value{i64(1), str("newer")}, []*sluicev1.Value{i64(2), str("first of a tie")}),
		batch(t, name, "a", t1, cols, []*sluicev1.Value{i64(1), str("older")}, []*sluicev1.Value{i64(2), str("older two")}),
		batch(t, name, "c", t1.Add(time.Hour), cols, []*sluicev1.Value{i64(2), str("second of a tie")}, []*sluicev1.Value{i64(2), str("third of a tie")}),
	)
	if n != 2 {
		t.Errorf("wrote %d rows, want 2", n)
	}
	assertRows(t, query(t, pool, "SELECT id::text, name, _record_id FROM "+name+" ORDER BY id"),
		[][]string{{"1", "newer", "b"}, {"2", "third of a tie", "c"}})
}

func TestEnsureAddsColumnsOfANewSpecVersion(t *testing.T) {
	pool, name := fixture(t)
	l := pgload.New(pool)
	v1 := itemsTable(name)
	t1 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	load(t, l, v1, batch(t, name, "r", t1, []string{"id", "name"}, []*sluicev1.Value{i64(1), str("one")}))

	v2 := v1
	v2.Columns = append(append([]pgload.Column(nil), v1.Columns...), pgload.Column{Name: "price", Type: "numeric"})
	// Rows of the old spec version (without price) still load, as nulls.
	load(t, l, v2, batch(t, name, "r", t1, []string{"id", "name"}, []*sluicev1.Value{i64(2), str("two")}))
	// The same extraction under v2 backfills the new column.
	load(t, l, v2, batch(t, name, "r", t1, []string{"id", "name", "price"}, []*sluicev1.Value{i64(1), str("one"), dec("9.99")}))
	assertRows(t, query(t, pool, "SELECT id::text, name, coalesce(price::text, 'NULL') FROM "+name+" ORDER BY id"),
		[][]string{{"1", "one", "9.99"}, {"2", "two", "NULL"}})

	// A second loader process (fresh memory of migrations) finds nothing to do.
	if err := pgload.New(pool).Ensure(context.Background(), v2); err != nil {
		t.Fatal(err)
	}
}

func TestDatabaseRefusalIsPermanent(t *testing.T) {
	pool, name := fixture(t)
	l := pgload.New(pool)
	tb := itemsTable(name)
	ctx := context.Background()
	if err := l.Ensure(ctx, tb); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "ALTER TABLE "+name+" ADD CONSTRAINT name_not_bad CHECK (name <> 'bad')"); err != nil {
		t.Fatal(err)
	}
	b := batch(t, name, "r", time.Now(), []string{"id", "name"}, []*sluicev1.Value{i64(1), str("good")}, []*sluicev1.Value{i64(2), str("bad")})
	tu, err := pgload.NewTuples(tb, time.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	bind, _ := tb.Bind(b.Columns)
	for _, r := range b.Rows {
		if _, err := tu.Append(b, bind, r); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.Upsert(ctx, tu, tu.Live()); !pgload.IsPermanent(err) {
		t.Fatalf("Upsert with a violating row = %v, want a permanent error", err)
	}
	if n, err := l.Upsert(ctx, tu, []int{0}); err != nil || n != 1 {
		t.Fatalf("Upsert of the good row alone = %d, %v", n, err)
	}
}

func TestATableDroppedUnderTheLoaderIsRecreated(t *testing.T) {
	pool, name := fixture(t)
	l := pgload.New(pool)
	tb := itemsTable(name)
	t1 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	load(t, l, tb, batch(t, name, "r", t1, []string{"id", "name"}, []*sluicev1.Value{i64(1), str("one")}))
	if _, err := pool.Exec(context.Background(), "DROP TABLE "+name); err != nil {
		t.Fatal(err)
	}
	b := batch(t, name, "r", t1, []string{"id", "name"}, []*sluicev1.Value{i64(2), str("two")})
	tu, err := pgload.NewTuples(tb, time.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	bind, _ := tb.Bind(b.Columns)
	if _, err := tu.Append(b, bind, b.Rows[0]); err != nil {
		t.Fatal(err)
	}
	_, err = l.Upsert(context.Background(), tu, tu.Live())
	if err == nil || pgload.IsPermanent(err) {
		t.Fatalf("Upsert into a dropped table = %v, want a transient error (not a reason to dead-letter rows)", err)
	}
	// The retry migrates again.
	load(t, l, tb, b)
	assertRows(t, query(t, pool, "SELECT id::text, name FROM "+name), [][]string{{"2", "two"}})
}
