package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sluice-dev/sluice/internal/bus"
	"github.com/sluice-dev/sluice/internal/servicetest"
	"github.com/sluice-dev/sluice/internal/spec"
	"github.com/sluice-dev/sluice/internal/specstore"
	"github.com/sluice-dev/sluice/internal/testinfra"
	sluicev1 "github.com/sluice-dev/sluice/proto/sluice/v1"
)

// harness runs the loader binary against a private NATS server and the local Postgres;
// tests publish row batches as the transformer would.
type harness struct {
	t     *testing.T
	js    jetstream.JetStream
	specs *specstore.Store
	pool  *pgxpool.Pool
	proc  *testinfra.Proc
	table string
	sent  int
}

func startLoader(t *testing.T) *harness {
	t.Helper()
	env := testinfra.Require(t, testinfra.Postgres)
	natsURL, js := servicetest.JetStream(t)
	ctx := context.Background()
	bin := testinfra.Binaries(t, "sluice-loader")
	h := &harness{t: t, js: js, table: "loader_" + randHex(4)}
	var err error
	if h.pool, err = pgxpool.New(ctx, env.PostgresURL); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = h.pool.Exec(context.Background(), "DROP TABLE IF EXISTS "+h.table)
		h.pool.Close()
	})
	if h.specs, err = specstore.Open(ctx, h.js); err != nil {
		t.Fatal(err)
	}
	vars := []string{"SLUICE_NATS_URL=" + natsURL, "SLUICE_HTTP_ADDR=127.0.0.1:0", "SLUICE_LOG_FORMAT=text",
		"SLUICE_POSTGRES_URL=" + env.PostgresURL, "SLUICE_BATCH_WAIT=300ms", "SLUICE_MAX_DELIVER=3"}
	if h.proc, err = testinfra.StartProc("loader", filepath.Join(bin, "sluice-loader"), nil, vars, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := h.proc.Stop(20 * time.Second); err != nil {
			t.Errorf("stop loader: %v", err)
		}
		if t.Failed() {
			t.Logf("loader log:\n%s", h.proc.Tail(4000))
		}
	})
	return h
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// register stores the items spec of the given version: id, name, quantity (integer), and
// price from version 2 on.
func (h *harness) register(version int64) *spec.Spec {
	h.t.Helper()
	price := ""
	if version >= 2 {
		price = `, {"name": "price", "type": "numeric", "expr": "row.price", "nullable": true}`
	}
	sp, err := spec.Parse([]byte(fmt.Sprintf(`{"provider": "acme", "dataset": "items", "version": %d, "table": %q,
		"format": {"type": "json_array"},
		"columns": [{"name": "id", "type": "bigint", "expr": "row.id"}, {"name": "name", "type": "text", "expr": "row.name"},
		            {"name": "quantity", "type": "integer", "expr": "row.quantity"}%s],
		"primary_key": ["id"]}`, version, h.table, price)))
	if err != nil {
		h.t.Fatal(err)
	}
	if err := h.specs.Register(context.Background(), sp); err != nil {
		h.t.Fatal(err)
	}
	return sp
}

type row struct {
	id       int64
	name     string
	quantity int64
	price    string // "" leaves the column out
}

// publish sends one row batch of record, extracted at, as the transformer would; every
// call uses a new dedupe id, so publishing the same content twice is a redelivery.
func (h *harness) publish(record string, at time.Time, version int64, rows ...row) {
	h.t.Helper()
	cols := []string{"id", "name", "quantity"}
	if version >= 2 {
		cols = append(cols, "price")
	}
	rb := &sluicev1.RowBatch{Table: h.table, Provider: "acme", Dataset: "items", SpecVersion: version, RecordId: record,
		TraceId: "4bf92f3577b34da6a3ce929d0e0e4736", ExtractedAt: timestamppb.New(at), Columns: cols}
	for i, r := range rows {
		vals := []*sluicev1.Value{{Kind: &sluicev1.Value_Int{Int: r.id}}, {Kind: &sluicev1.Value_String_{String_: r.name}}, {Kind: &sluicev1.Value_Int{Int: r.quantity}}}
		if version >= 2 {
			vals = append(vals, &sluicev1.Value{Kind: &sluicev1.Value_Decimal{Decimal: r.price}})
		}
		rb.Rows = append(rb.Rows, &sluicev1.Row{Index: int64(i), Values: vals})
	}
	h.sent++
	if _, err := bus.Publish(context.Background(), h.js, bus.Message{Subject: bus.RowsSubject(h.table), MsgID: fmt.Sprintf("%s:%d", record, h.sent),
		Body: rb, RecordID: record, Provider: "acme", Dataset: "items"}); err != nil {
		h.t.Fatal(err)
	}
}

// settled waits until the loader has acked or terminated everything published.
func (h *harness) settled() {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		cons, err := h.js.Consumer(context.Background(), bus.StreamRows, "loader")
		if err == nil {
			ci := cons.CachedInfo()
			if ci.NumPending == 0 && ci.NumAckPending == 0 && ci.AckFloor.Stream >= uint64(h.sent) {
				return
			}
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("the loader did not settle %d messages", h.sent)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (h *harness) rows(sql string) [][]string {
	h.t.Helper()
	rows, err := h.pool.Query(context.Background(), strings.ReplaceAll(sql, "$table", h.table))
	if err != nil {
		h.t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([]string, error) {
		vals, err := r.Values()
		s := make([]string, len(vals))
		for i, v := range vals {
			s[i] = fmt.Sprint(v)
		}
		return s, err
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return out
}

// deadLetters reads every dead letter so far.
func (h *harness) deadLetters() []*sluicev1.DeadLetter {
	h.t.Helper()
	ctx := context.Background()
	s, err := h.js.Stream(ctx, bus.StreamDLQ)
	if err != nil {
		h.t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	var out []*sluicev1.DeadLetter
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			continue
		}
		dl := &sluicev1.DeadLetter{}
		if err := proto.Unmarshal(m.Data, dl); err != nil {
			h.t.Fatal(err)
		}
		out = append(out, dl)
	}
	return out
}

func TestBadRowsAreDeadLetteredWhileGoodRowsLoad(t *testing.T) {
	h := startLoader(t)
	h.register(1)
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	h.publish("r0", at, 1, row{id: 1, name: "seed", quantity: 1})
	h.settled()
	if _, err := h.pool.Exec(context.Background(), "ALTER TABLE "+h.table+" ADD CONSTRAINT name_not_bad CHECK (name <> 'bad')"); err != nil {
		t.Fatal(err)
	}
	// Three messages in one loader batch: two rows the database refuses, one that cannot
	// even be converted (an integer column overflows), among good rows.
	var good []row
	var rs [3][]row
	for i := range 30 {
		r := row{id: int64(100 + i), name: fmt.Sprint("good ", i), quantity: int64(i)}
		switch i {
		case 3, 17:
			r.name = "bad"
		case 25:
			r.quantity = 1 << 40
		default:
			good = append(good, r)
		}
		rs[i/10] = append(rs[i/10], r)
	}
	for m := range 3 {
		h.publish(fmt.Sprint("r", m+1), at, 1, rs[m]...)
	}
	h.settled()
	want := [][]string{{"1"}}
	for _, r := range good {
		want = append(want, []string{fmt.Sprint(r.id)})
	}
	if got := h.rows("SELECT id FROM $table ORDER BY id"); !reflect.DeepEqual(got, want) {
		t.Errorf("loaded ids %v, want %v", got, want)
	}
	letters := h.deadLetters()
	type key struct {
		record string
		row    int64
	}
	got := map[key]string{}
	for _, dl := range letters {
		got[key{dl.GetRecordId(), dl.GetRowIndex()}] = dl.GetReason()
		if dl.GetStage() != "load" || dl.GetSubject() != bus.RowsSubject(h.table) {
			t.Errorf("dead letter stage %q subject %q", dl.GetStage(), dl.GetSubject())
		}
		// The dead letter's data is the bad row alone, so a retry re-sends only it.
		rb := &sluicev1.RowBatch{}
		if err := proto.Unmarshal(dl.GetData(), rb); err != nil || len(rb.GetRows()) != 1 || rb.GetRows()[0].GetIndex() != dl.GetRowIndex() || rb.GetTable() != h.table {
			t.Errorf("dead letter data: %v rows %v", err, rb.GetRows())
		}
	}
	if len(letters) != 3 {
		t.Fatalf("%d dead letters %v, want 3", len(letters), got)
	}
	for k, substr := range map[key]string{{"r1", 3}: "name_not_bad", {"r2", 7}: "name_not_bad", {"r3", 5}: "out of range for integer"} {
		if !strings.Contains(got[k], substr) {
			t.Errorf("dead letter of record %s row %d: reason %q, want it to mention %q", k.record, k.row, got[k], substr)
		}
	}
}

func TestRedeliveredAndOlderBatchesChangeNothing(t *testing.T) {
	h := startLoader(t)
	h.register(1)
	t1 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	t2 := t1.Add(time.Hour)
	h.publish("new", t2, 1, row{id: 1, name: "new", quantity: 1}, row{id: 2, name: "two", quantity: 2})
	h.settled()
	query := "SELECT id, name, quantity, _record_id, _extracted_at, _loaded_at, xmin::text FROM $table ORDER BY id"
	before := h.rows(query)

	h.publish("new", t2, 1, row{id: 1, name: "new", quantity: 1}, row{id: 2, name: "two", quantity: 2}) // redelivered
	h.publish("old", t1, 1, row{id: 1, name: "old", quantity: 9}, row{id: 2, name: "old", quantity: 9}) // an older extraction
	h.settled()
	if after := h.rows(query); !reflect.DeepEqual(after, before) {
		t.Errorf("rows changed:\nbefore %v\n after %v", before, after)
	}
	if n := len(h.deadLetters()); n != 0 {
		t.Errorf("%d dead letters", n)
	}
}

func TestNewSpecVersionMigratesTheTable(t *testing.T) {
	h := startLoader(t)
	h.register(1)
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	h.publish("r", at, 1, row{id: 1, name: "one", quantity: 1})
	h.settled()
	// The loader has cached version 1; rows of version 2 make it read the new spec and add
	// the column, and the same extraction under v2 fills it in.
	h.register(2)
	h.publish("r", at, 2, row{id: 1, name: "one", quantity: 1, price: "2.50"}, row{id: 2, name: "two", quantity: 2, price: "1e2"})
	h.settled()
	got := h.rows("SELECT id, name, price::text FROM $table ORDER BY id")
	if want := [][]string{{"1", "one", "2.50"}, {"2", "two", "100"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("rows %v, want %v", got, want)
	}
	// Rows still made by version 1 (in flight during the rollout) load with a null price.
	h.publish("r3", at, 1, row{id: 3, name: "three", quantity: 3})
	h.settled()
	if got := h.rows("SELECT id, coalesce(price::text, 'NULL') FROM $table WHERE id = 3"); !slices.Equal(got[0], []string{"3", "NULL"}) {
		t.Errorf("v1 row: %v", got)
	}
}

func TestRowsWaitForTheirSpec(t *testing.T) {
	h := startLoader(t)
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	h.publish("r", at, 1, row{id: 1, name: "early", quantity: 1})
	time.Sleep(500 * time.Millisecond) // the loader tries, finds no spec, and retries later
	h.register(1)
	h.settled()
	if got := h.rows("SELECT name FROM $table"); len(got) != 1 || got[0][0] != "early" {
		t.Errorf("rows %v", got)
	}
	if n := len(h.deadLetters()); n != 0 {
		t.Errorf("%d dead letters", n)
	}
}

// TestRefusedNewestVersionFallsBackToOlder: a batch holds two versions of one key and the
// database refuses the newer. The refused one goes to the DLQ with the reason; the older
// one, set aside by deduplication, is loaded in its place instead of vanishing with it.
func TestRefusedNewestVersionFallsBackToOlder(t *testing.T) {
	h := startLoader(t)
	h.register(1)
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	h.publish("r0", at, 1, row{id: 1, name: "seed", quantity: 1})
	h.settled()
	if _, err := h.pool.Exec(context.Background(), "ALTER TABLE "+h.table+" ADD CONSTRAINT name_not_bad CHECK (name <> 'bad')"); err != nil {
		t.Fatal(err)
	}
	// One message, one key twice (a provider repeating a row): the later row is the
	// version kept, and the database refuses it.
	h.publish("r1", at.Add(time.Hour), 1, row{id: 2, name: "older", quantity: 1}, row{id: 2, name: "bad", quantity: 2})
	h.settled()
	if got := h.rows("SELECT id, name FROM $table ORDER BY id"); !reflect.DeepEqual(got, [][]string{{"1", "seed"}, {"2", "older"}}) {
		t.Errorf("table %v, want the older version of key 2 loaded", got)
	}
	letters := h.deadLetters()
	if len(letters) != 1 || letters[0].GetRecordId() != "r1" || letters[0].GetRowIndex() != 1 || !strings.Contains(letters[0].GetReason(), "name_not_bad") {
		t.Errorf("dead letters %v, want row 1 of r1 refused by name_not_bad", letters)
	}
}
