package sqlcopy_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/sluice-dev/sluice/internal/bus"
	"github.com/sluice-dev/sluice/internal/servicetest"
	"github.com/sluice-dev/sluice/services/extractor/provider"
	"github.com/sluice-dev/sluice/services/extractor/provider/checkpoint"
	"github.com/sluice-dev/sluice/services/extractor/providers/sqlcopy"
	"github.com/sluice-dev/sluice/services/extractor/providers/sqlcopy/sqlcopytest"

	"github.com/klauspost/compress/zstd"
)

// world is one test's source database and private JetStream (checkpoints, limits).
type world struct {
	t      *testing.T
	srcURL string
	conn   *pgx.Conn
	js     jetstream.JetStream
	ckpt   *checkpoint.Store
	dir    string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	srcURL, conn := sqlcopytest.Source(t)
	ctx := context.Background()
	_, js := servicetest.JetStream(t)
	kv, err := js.KeyValue(ctx, bus.BucketCheckpoints)
	if err != nil {
		t.Fatal(err)
	}
	ckpt, err := checkpoint.New(kv, sqlcopy.Name)
	if err != nil {
		t.Fatal(err)
	}
	return &world{t: t, srcURL: srcURL, conn: conn, js: js, ckpt: ckpt, dir: t.TempDir()}
}

// table creates a generated table and returns its config entry.
func (w *world) table(gt sqlcopytest.Table) sqlcopy.Table {
	w.t.Helper()
	ctx := context.Background()
	if err := sqlcopytest.Create(ctx, w.conn, gt); err != nil {
		w.t.Fatal(err)
	}
	path, err := sqlcopytest.WriteSpec(ctx, w.conn, w.dir, "public."+gt.Name, gt.Name, "copy_"+gt.Name)
	if err != nil {
		w.t.Fatal(err)
	}
	return sqlcopy.Table{Dataset: gt.Name, Source: "public." + gt.Name, SpecFile: path}
}

// provider builds one replica of the provider, with its own governor sharing the
// sluice-limits state of every replica of the world.
func (w *world) provider(cfg *sqlcopy.Config) provider.Provider {
	w.t.Helper()
	lim, err := sqlcopy.Limits(cfg)
	if err != nil {
		w.t.Fatal(err)
	}
	gov, err := provider.NewGovernor(context.Background(), sqlcopy.Name, lim, w.js, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { _ = gov.Close() })
	p, err := sqlcopy.Spec.New(cfg, provider.Deps{
		Getenv:   func(k string) string { return map[string]string{sqlcopy.EnvSourceURL: w.srcURL}[k] },
		Services: provider.Services{Checkpoints: w.ckpt, Limits: gov},
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return p
}

func config(tables ...sqlcopy.Table) *sqlcopy.Config {
	c := sqlcopy.DefaultConfig()
	c.Tables = tables
	c.Page.ProbeRows, c.Page.MaxRows = 50, 400
	c.PageRetries = 8
	return c
}

// collector is an Emitter that keeps every page and checks the rules of pages.
type collector struct {
	mu    sync.Mutex
	pages map[string][]byte // by dataset + source key
	emits int
	// after, when set, runs after each successful emit (with the emit count).
	after func(n int)
}

func newCollector() *collector { return &collector{pages: map[string][]byte{}} }

func (c *collector) Emit(ctx context.Context, r provider.Raw) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	data, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	if r.ContentEncoding != "zstd" || r.ContentType != "application/x-ndjson" {
		return fmt.Errorf("page %s: content %s encoded %q", r.SourceKey, r.ContentType, r.ContentEncoding)
	}
	c.mu.Lock()
	k := r.Dataset + " " + r.SourceKey
	if prev, ok := c.pages[k]; ok && !bytes.Equal(prev, data) {
		c.mu.Unlock()
		return fmt.Errorf("page %s emitted twice with different bytes", k)
	}
	c.pages[k] = data
	c.emits++
	n, after := c.emits, c.after
	c.mu.Unlock()
	if after != nil {
		after(n)
	}
	return nil
}

// rows decodes every page of dataset and returns its rows by key (the key columns'
// JSON joined), failing on a key seen in two different pages.
func (c *collector) rows(t *testing.T, dataset string, key ...string) map[string]map[string]any {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]map[string]any{}
	from := map[string]string{}
	for k, data := range c.pages {
		if !strings.HasPrefix(k, dataset+" ") {
			continue
		}
		zr, err := zstd.NewReader(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(zr)
		sc.Buffer(nil, 64<<20)
		for sc.Scan() {
			dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
			dec.UseNumber()
			var row map[string]any
			if err := dec.Decode(&row); err != nil {
				t.Fatalf("page %s: %v in %q", k, err, sc.Bytes())
			}
			var parts []string
			for _, kc := range key {
				b, _ := json.Marshal(row[kc])
				parts = append(parts, string(b))
			}
			id := strings.Join(parts, ",")
			if prev, ok := from[id]; ok && prev != k {
				t.Fatalf("row %s is in pages %s and %s", id, prev, k)
			}
			from[id] = k
			out[id] = row
		}
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// runAll plans a run and runs its tasks on the replicas, workers tasks at once each.
func runAll(ctx context.Context, runID string, replicas []provider.Provider, workers int, emit provider.Emitter, params map[string]string) ([]provider.Task, error) {
	tasks, err := replicas[0].Plan(ctx, provider.Trigger{RunID: runID, Source: "cli", Params: params})
	if err != nil {
		return nil, err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(workers * len(replicas))
	for i, task := range tasks {
		task.RunID = runID
		p := replicas[i%len(replicas)]
		g.Go(func() error { return p.Run(gctx, task, emit) })
	}
	return tasks, g.Wait()
}

func keyOf(k sqlcopytest.KeyKind) []string {
	switch k {
	case sqlcopytest.KeyText:
		return []string{"code"}
	case sqlcopytest.KeyTimestamp:
		return []string{"at"}
	case sqlcopytest.KeyComposite:
		return []string{"order_id", "line"}
	}
	return []string{"id"}
}

// TestCopiesEveryKeyKind copies a table of each key kind in partitions sampled from its
// keys and finds every row exactly once, with every column.
func TestCopiesEveryKeyKind(t *testing.T) {
	w := newWorld(t)
	const rows = 2000
	var tables []sqlcopy.Table
	for _, k := range sqlcopytest.KeyKinds {
		tb := w.table(sqlcopytest.Table{Name: "t_" + string(k), Key: k, Rows: rows, Wide: k == sqlcopytest.KeyUUID})
		tb.Partitions = 4
		tables = append(tables, tb)
	}
	p := w.provider(config(tables...))
	col := newCollector()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tasks, err := runAll(ctx, "every-key", []provider.Provider{p}, 4, col, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks) != 4*len(tables) {
		t.Errorf("planned %d tasks, want 4 partitions of each of %d tables", len(tasks), len(tables))
	}
	for _, k := range sqlcopytest.KeyKinds {
		got := col.rows(t, "t_"+string(k), keyOf(k)...)
		if len(got) != rows {
			t.Errorf("key %s: %d distinct rows copied, want %d", k, len(got), rows)
		}
		for _, r := range got {
			if _, ok := r["updated_at"]; !ok || len(r) < 19 {
				t.Fatalf("key %s: row without every column: %v", k, r)
			}
			break
		}
	}
}

// TestCancelledQueriesResume cancels the provider's running page queries with
// pg_cancel_backend and ends their sessions with pg_terminate_backend: each page is read
// again and the copy ends with every row once.
func TestCancelledQueriesResume(t *testing.T) {
	w := newWorld(t)
	const rows = 3000
	tb := w.table(sqlcopytest.Table{Name: "slow", Key: sqlcopytest.KeyInt, Rows: rows})
	tb.Partitions = 2
	// About 0.3 ms per row read, so a page query runs long enough to be cancelled.
	tb.Filter = "pg_sleep(0.0003) IS NOT NULL"
	cfg := config(tb)
	p := w.provider(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var cancelled, terminated atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		killer, err := pgx.Connect(ctx, w.srcURL)
		if err != nil {
			t.Error(err)
			return
		}
		defer killer.Close(context.Background())
		for cancelled.Load() < 2 || terminated.Load() < 2 {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			// Cancel the running query, or end its session (a lost connection) when enough
			// were cancelled.
			fn, count := "pg_cancel_backend", &cancelled
			if cancelled.Load() >= 2 {
				fn, count = "pg_terminate_backend", &terminated
			}
			var n int64
			err := killer.QueryRow(ctx, `SELECT count(*) FILTER (WHERE `+fn+`(pid)) FROM pg_stat_activity
				WHERE application_name = 'sluice-sqlcopy' AND state = 'active' AND query LIKE '%LIMIT%' AND query NOT LIKE '%count(%'`).Scan(&n)
			if err != nil && ctx.Err() == nil {
				t.Error(err)
				return
			}
			count.Add(n)
		}
	}()
	col := newCollector()
	_, err := runAll(ctx, "cancel", []provider.Provider{p}, 2, col, nil)
	close(stop)
	<-done
	if err != nil {
		t.Fatal(err)
	}
	if cancelled.Load() == 0 || terminated.Load() == 0 {
		t.Fatalf("%d queries cancelled and %d sessions ended: the test proves nothing", cancelled.Load(), terminated.Load())
	}
	if got := col.rows(t, "slow", "id"); len(got) != rows {
		t.Fatalf("%d distinct rows after %d cancelled queries and %d ended sessions, want %d", len(got), cancelled.Load(), terminated.Load(), rows)
	}
	t.Logf("%d queries cancelled, %d sessions ended, %d pages", cancelled.Load(), terminated.Load(), len(col.pages))
}

// TestStatementTimeoutShrinksPages runs under a statement_timeout shorter than a probe
// page: killed pages are read again with half the rows until they fit.
func TestStatementTimeoutShrinksPages(t *testing.T) {
	w := newWorld(t)
	const rows = 600
	tb := w.table(sqlcopytest.Table{Name: "timed", Key: sqlcopytest.KeyText, Rows: rows})
	tb.Partitions = 1
	tb.Filter = "pg_sleep(0.002) IS NOT NULL" // 200 rows: 0.4 s
	cfg := config(tb)
	cfg.Page.ProbeRows = 200
	cfg.StatementTimeout = "150ms"
	p := w.provider(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	col := newCollector()
	if _, err := runAll(ctx, "timeout", []provider.Provider{p}, 1, col, nil); err != nil {
		t.Fatal(err)
	}
	if got := col.rows(t, "timed", "code"); len(got) != rows {
		t.Fatalf("%d distinct rows, want %d", len(got), rows)
	}
	cur, err := checkpoint.Load[struct {
		PageRows int  `json:"page_rows"`
		Done     bool `json:"done"`
	}](ctx, w.ckpt, w.ckpt.Key("backfill", "timed", "timeout", "p00000"))
	if err != nil {
		t.Fatal(err)
	}
	if !cur.Value.Done || cur.Value.PageRows >= 75 {
		t.Fatalf("checkpoint %+v: want a finished partition with pages under 75 rows (0.15 s at 2 ms a row)", cur.Value)
	}
}

// TestInterruptedTaskResumesFromCheckpoint stops a task right after a page was emitted
// and before its checkpoint was saved (what a SIGKILL there does), then runs it again:
// only that page is emitted twice, with the same source key and bytes, and every row is
// copied.
func TestInterruptedTaskResumesFromCheckpoint(t *testing.T) {
	w := newWorld(t)
	const rows = 1500
	tb := w.table(sqlcopytest.Table{Name: "resume", Key: sqlcopytest.KeyComposite, Rows: rows, Wide: true})
	tb.Partitions = 1
	p := w.provider(config(tb))
	ctx := context.Background()
	tasks, err := p.Plan(ctx, provider.Trigger{RunID: "resume", Source: "cli"})
	if err != nil || len(tasks) != 1 {
		t.Fatalf("plan: %v tasks, %v", len(tasks), err)
	}
	task := tasks[0]
	task.RunID = "resume"
	col := newCollector()
	actx, cancel := context.WithCancel(ctx)
	col.after = func(n int) {
		if n == 3 {
			cancel() // the checkpoint of page 3 cannot be saved
		}
	}
	if err := p.Run(actx, task, col); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: %v, want context.Canceled", err)
	}
	firstEmits := col.emits
	col.after = nil
	if err := p.Run(ctx, task, col); err != nil {
		t.Fatal(err)
	}
	repeated := col.emits - len(col.pages)
	if repeated != 1 {
		t.Fatalf("%d pages emitted again after the interruption (of %d), want exactly the one in flight", repeated, firstEmits)
	}
	if got := col.rows(t, "resume", "order_id", "line"); len(got) != rows {
		t.Fatalf("%d distinct rows, want %d", len(got), rows)
	}
	// A third run of the finished partition emits nothing.
	before := col.emits
	if err := p.Run(ctx, task, col); err != nil || col.emits != before {
		t.Fatalf("run of a finished partition: %v, %d pages emitted", err, col.emits-before)
	}
}

// TestConcurrencyCapAcrossReplicas runs three replicas, each with its own governor over
// the shared sluice-limits state and four workers, under a cap of two queries, while
// pg_stat_activity is sampled: the source never runs more than two of their queries.
func TestConcurrencyCapAcrossReplicas(t *testing.T) {
	w := newWorld(t)
	const rows, limit = 4000, 2
	tb := w.table(sqlcopytest.Table{Name: "capped", Key: sqlcopytest.KeyUUID, Rows: rows})
	tb.Partitions = 12
	tb.Filter = "pg_sleep(0.0002) IS NOT NULL"
	cfg := config(tb)
	cfg.Concurrency = limit
	replicas := []provider.Provider{w.provider(cfg), w.provider(cfg), w.provider(cfg)}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	var peak atomic.Int64
	var samples atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		mon, err := pgx.Connect(ctx, w.srcURL)
		if err != nil {
			t.Error(err)
			return
		}
		defer mon.Close(context.Background())
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
			var n int64
			if err := mon.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
				WHERE application_name = 'sluice-sqlcopy' AND state = 'active' AND pid <> pg_backend_pid()`).Scan(&n); err != nil {
				if ctx.Err() == nil {
					t.Error(err)
				}
				return
			}
			samples.Add(1)
			if n > peak.Load() {
				peak.Store(n)
			}
		}
	}()
	col := newCollector()
	_, err := runAll(ctx, "capped", replicas, 4, col, nil)
	close(stop)
	<-done
	if err != nil {
		t.Fatal(err)
	}
	if got := col.rows(t, "capped", "id"); len(got) != rows {
		t.Fatalf("%d distinct rows, want %d", len(got), rows)
	}
	t.Logf("peak %d queries at once over %d samples (cap %d)", peak.Load(), samples.Load(), limit)
	if peak.Load() > limit {
		t.Fatalf("the source ran %d queries of sluice at once, over the cap of %d", peak.Load(), limit)
	}
	if peak.Load() == 0 {
		t.Fatal("no query was ever seen running: the sampler proves nothing")
	}
}

// TestIncrementalByUpdatedAt runs a backfill, changes and adds rows, and runs an
// incremental pass: it copies exactly the changed and added rows, and its pages carry
// the greatest updated_at as their data version.
func TestIncrementalByUpdatedAt(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	tb := w.table(sqlcopytest.Table{Name: "incr", Key: sqlcopytest.KeyInt, Rows: 500})
	tb.Partitions = 2
	tb.Incremental = &sqlcopy.Incremental{Column: "updated_at"}
	p := w.provider(config(tb))
	vc := &versionCollector{collector: newCollector()}
	if _, err := runAll(ctx, "incr-1", []provider.Provider{p}, 2, vc, nil); err != nil {
		t.Fatal(err)
	}
	if got := vc.rows(t, "incr", "id"); len(got) != 500 {
		t.Fatalf("backfill copied %d rows, want 500", len(got))
	}
	if _, err := w.conn.Exec(ctx, `UPDATE incr SET note = 'changed', updated_at = timestamptz '2030-01-01 00:00:00+00' + id * interval '1 microsecond' WHERE id % 50 = 0;
		INSERT INTO incr (id, updated_at) VALUES (100000, timestamptz '2031-01-01 00:00:00+00')`); err != nil {
		t.Fatal(err)
	}
	next := &versionCollector{collector: newCollector()}
	tasks, err := runAll(ctx, "incr-2", []provider.Provider{p}, 2, next, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks) != 1 || tasks[0].Kind != "incremental" {
		t.Fatalf("second run planned %+v, want one incremental task", tasks)
	}
	got := next.rows(t, "incr", "id")
	// The rows updated plus the new one; the row at the backfill's high-water mark is
	// read again (compared inclusively), which the loader's upsert makes harmless.
	var changed int
	for _, r := range got {
		if r["note"] == "changed" || r["id"] == json.Number("100000") {
			changed++
		}
	}
	if changed != 10+1 || len(got) > changed+1 {
		t.Fatalf("incremental pass copied %d rows of which %d changed or new, want the 11 (and at most the one at the mark)", len(got), changed)
	}
	want := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	if next.maxVersion != want {
		t.Fatalf("greatest data version %d, want updated_at of the newest row %d", next.maxVersion, want)
	}
	// Nothing changed since: the next pass emits nothing.
	again := &versionCollector{collector: newCollector()}
	if _, err := runAll(ctx, "incr-3", []provider.Provider{p}, 2, again, nil); err != nil {
		t.Fatal(err)
	}
	if len(again.pages) != 0 {
		t.Fatalf("a pass with nothing new emitted %d pages", len(again.pages))
	}
}

type versionCollector struct {
	*collector
	maxVersion int64
}

func (v *versionCollector) Emit(ctx context.Context, r provider.Raw) error {
	v.mu.Lock()
	v.maxVersion = max(v.maxVersion, r.DataVersion)
	v.mu.Unlock()
	return v.collector.Emit(ctx, r)
}

// TestIncrementalByKey copies an append-only table by key high-water mark: after the
// backfill, a pass copies exactly the rows added since, and the one after copies nothing.
func TestIncrementalByKey(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	tb := w.table(sqlcopytest.Table{Name: "appends", Key: sqlcopytest.KeyComposite, Rows: 400})
	tb.Partitions = 2
	tb.Incremental = &sqlcopy.Incremental{}
	p := w.provider(config(tb))
	first := newCollector()
	if _, err := runAll(ctx, "appends-1", []provider.Provider{p}, 2, first, nil); err != nil {
		t.Fatal(err)
	}
	if got := first.rows(t, "appends", "order_id", "line"); len(got) != 400 {
		t.Fatalf("backfill copied %d rows, want 400", len(got))
	}
	// Keys after the greatest (40, 0): one in the last order, two in a new one.
	if _, err := w.conn.Exec(ctx, `INSERT INTO appends (order_id, line, updated_at) VALUES (40, 5, now()), (41, 0, now()), (41, 1, now())`); err != nil {
		t.Fatal(err)
	}
	next := newCollector()
	tasks, err := runAll(ctx, "appends-2", []provider.Provider{p}, 2, next, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks) != 1 || tasks[0].Kind != "incremental" {
		t.Fatalf("second run planned %+v, want one incremental task", tasks)
	}
	got := next.rows(t, "appends", "order_id", "line")
	for _, k := range []string{"40,5", "41,0", "41,1"} {
		if _, ok := got[k]; !ok {
			t.Errorf("new row %s not copied", k)
		}
	}
	if len(got) != 3 {
		t.Fatalf("incremental pass copied %d rows, want the 3 new ones", len(got))
	}
	again := newCollector()
	if _, err := runAll(ctx, "appends-3", []provider.Provider{p}, 2, again, nil); err != nil {
		t.Fatal(err)
	}
	if len(again.pages) != 0 {
		t.Fatalf("a pass with nothing new emitted %d pages", len(again.pages))
	}
}

// TestMissingTableIsPermanent: a table the source does not have fails the plan as a
// permanent error (the DLQ, with the table named), not a retried one.
func TestMissingTableIsPermanent(t *testing.T) {
	w := newWorld(t)
	tb := w.table(sqlcopytest.Table{Name: "present", Key: sqlcopytest.KeyInt, Rows: 10})
	tb.Source = "public.absent"
	p := w.provider(config(tb))
	_, err := p.Plan(context.Background(), provider.Trigger{RunID: "missing", Source: "cli"})
	if !errors.Is(err, provider.ErrPermanent) || !strings.Contains(err.Error(), "public.absent") {
		t.Fatalf("plan of a missing table: %v, want a permanent error naming public.absent", err)
	}
}
