package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluice-dev/sluice/internal/bus"
	"github.com/sluice-dev/sluice/internal/procs"
	"github.com/sluice-dev/sluice/internal/spec"
	"github.com/sluice-dev/sluice/internal/specstore"
)

// loadSuite measures, in one run and on one table shape, how fast rows reach PostgreSQL:
//
//   - copy_upsert_ceiling_rows_per_s: pgx CopyFrom of ready-made rows into a temporary
//     table plus INSERT … ON CONFLICT DO UPDATE with the monotonic guard, in large
//     transactions: what the database can take.
//   - load_ratio: the loader process alone draining a ROWS stream filled beforehand.
//   - e2e_ratio: RAW → staging-store → transformer → loader → PostgreSQL, all processes.
//   - replay_ratio: `sluice replay` of the same staged records into the emptied table.
//   - single_row_ratio: one INSERT … ON CONFLICT statement per row, the naive baseline.
//   - stage/transform/load_peak_rss_mb: each service's VmHWM while one large report
//     (1 GB; 64 MB under BENCH_SCALE=small), claim-checked through S3, flows through.
//
// Every ratio divides rows per second by the ceiling measured in the same run.
var loadSuite = Suite{Name: "load", Run: runLoad}

type loadScale struct {
	rows          int64 // rows of the ceiling, loader and e2e phases
	rowsPerRecord int64
	ceilingTx     int64 // rows per ceiling transaction
	singleRows    int64
	reportBytes   []int64 // large report sizes, smallest first; the last is reported
}

func scaleOf(small bool) loadScale {
	if small {
		return loadScale{rows: 100_000, rowsPerRecord: 1000, ceilingTx: 20_000, singleRows: 1000, reportBytes: []int64{16 << 20, 64 << 20}}
	}
	return loadScale{rows: 1_000_000, rowsPerRecord: 1000, ceilingTx: 20_000, singleRows: 5000, reportBytes: []int64{256 << 20, 1 << 30}}
}

func runLoad(ctx context.Context, env *Env) error {
	sc := scaleOf(env.Small)
	env.Logf("building service binaries")
	if err := procs.Build(ctx, env.Root, env.Bin, "sluice-staging-store", "sluice-transformer", "sluice-loader", "sluice"); err != nil {
		return err
	}
	p, err := newPipeline(ctx, env)
	if err != nil {
		return err
	}
	defer p.close()
	if err := bus.Provision(ctx, p.js, bus.DefaultProvision()); err != nil {
		return err
	}
	pool, err := pgxpool.New(ctx, p.infra.PostgresURL)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	defer pool.Close()
	specs, err := specstore.Open(ctx, p.js)
	if err != nil {
		return err
	}
	b := &loadBench{env: env, sc: sc, p: p, pool: pool, specs: specs, suffix: randHex(3)}
	defer b.dropTables(context.WithoutCancel(ctx))

	// BENCH_LOAD_PHASES=load,e2e runs only some phases, while working on one of them.
	phases := map[string]bool{}
	for _, ph := range strings.Split(os.Getenv("BENCH_LOAD_PHASES"), ",") {
		if ph != "" {
			phases[ph] = true
		}
	}
	want := func(ph string) bool { return len(phases) == 0 || phases[ph] }

	ceiling, err := b.ceiling(ctx)
	if err != nil {
		return fmt.Errorf("ceiling: %w", err)
	}
	env.Emit("copy_upsert_ceiling_rows_per_s", round(ceiling))
	ratio := func(name string, rowsPerS float64) {
		env.Logf("%s: %.0f rows/s", name, rowsPerS)
		env.Emit(name, round3(rowsPerS/ceiling))
	}
	if want("single") {
		single, err := b.singleRow(ctx)
		if err != nil {
			return fmt.Errorf("single-row baseline: %w", err)
		}
		ratio("single_row_ratio", single)
	}
	if want("load") {
		load, err := b.loaderAlone(ctx)
		if err != nil {
			return fmt.Errorf("loader alone: %w", err)
		}
		ratio("load_ratio", load)
	}
	if want("e2e") {
		e2e, replay, err := b.endToEnd(ctx)
		if err != nil {
			return fmt.Errorf("end to end: %w", err)
		}
		ratio("e2e_ratio", e2e)
		ratio("replay_ratio", replay)
	}
	if want("rss") {
		return b.largeReport(ctx)
	}
	return nil
}

type loadBench struct {
	env    *Env
	sc     loadScale
	p      *pipeline
	pool   *pgxpool.Pool
	specs  *specstore.Store
	suffix string
	tables []string
}

// table registers a spec for dataset and returns it; its table name is unique to this run.
func (b *loadBench) table(ctx context.Context, dataset string) (*spec.Spec, error) {
	sp, err := benchSpec(dataset, "bench_"+dataset+"_"+b.suffix)
	if err != nil {
		return nil, err
	}
	b.tables = append(b.tables, sp.Table)
	return sp, b.specs.Register(ctx, sp)
}

func (b *loadBench) dropTables(ctx context.Context) {
	for _, t := range b.tables {
		if _, err := b.pool.Exec(ctx, "DROP TABLE IF EXISTS "+pgx.Identifier{t}.Sanitize()); err != nil {
			b.env.Logf("drop %s: %v", t, err)
		}
	}
}

// createTable creates sp's table the way the loader does (lineage columns included).
func (b *loadBench) createTable(ctx context.Context, sp *spec.Spec) error {
	var cols []string
	for _, c := range sp.Columns {
		cols = append(cols, pgx.Identifier{c.Name}.Sanitize()+" "+c.Type.PostgresType())
	}
	_, err := b.pool.Exec(ctx, fmt.Sprintf(`CREATE TABLE %s (%s, _record_id text NOT NULL, _trace_id text,
		_extracted_at timestamptz NOT NULL, _loaded_at timestamptz NOT NULL DEFAULT now(), _data_version bigint, PRIMARY KEY (%s))`,
		pgx.Identifier{sp.Table}.Sanitize(), strings.Join(cols, ", "), strings.Join(sp.PrimaryKey, ", ")))
	return err
}

func allColumns(sp *spec.Spec) []string {
	return append(sp.ColumnNames(), "_record_id", "_trace_id", "_extracted_at", "_loaded_at")
}

// upsertSQL is INSERT … ON CONFLICT DO UPDATE with the monotonic guard, from src.
func upsertSQL(sp *spec.Spec, src string) string {
	cols := allColumns(sp)
	var set []string
	for _, c := range cols[len(sp.PrimaryKey):] {
		set = append(set, c+" = EXCLUDED."+c)
	}
	return fmt.Sprintf("INSERT INTO %s (%s) %s ON CONFLICT (%s) DO UPDATE SET %s WHERE %s._extracted_at <= EXCLUDED._extracted_at",
		sp.Table, strings.Join(cols, ", "), src, strings.Join(sp.PrimaryKey, ", "), strings.Join(set, ", "), sp.Table)
}

func (b *loadBench) count(ctx context.Context, table string) (int64, error) {
	var n int64
	err := b.pool.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{table}.Sanitize()).Scan(&n)
	return n, err
}

// ceilingRounds is how many times the ceiling is measured, each time into a fresh table;
// the best round is the ceiling, so a round slowed by the rest of the machine (or by cold
// caches) does not lower the bar the other figures are divided by.
const ceilingRounds = 2

// ceiling COPY-upserts ready-made rows in transactions of sc.ceilingTx rows; only the
// database work (and pgx's encoding) is timed, not generating the rows.
func (b *loadBench) ceiling(ctx context.Context) (float64, error) {
	best := 0.0
	for round := range ceilingRounds {
		r, err := b.ceilingRound(ctx, round)
		if err != nil {
			return 0, err
		}
		b.env.Logf("ceiling round %d: %.0f rows/s", round+1, r)
		best = max(best, r)
	}
	return best, nil
}

func (b *loadBench) ceilingRound(ctx context.Context, round int) (float64, error) {
	sp, err := b.table(ctx, fmt.Sprintf("ceiling%d", round))
	if err != nil {
		return 0, err
	}
	if err := b.createTable(ctx, sp); err != nil {
		return 0, err
	}
	cols := allColumns(sp)
	upsert := upsertSQL(sp, "SELECT "+strings.Join(cols, ", ")+" FROM _bench_stage")
	extracted := time.Now().UTC()
	var spent time.Duration
	for first := int64(0); first < b.sc.rows; first += b.sc.ceilingTx {
		rows := make([][]any, 0, b.sc.ceilingTx)
		for i := first; i < min(first+b.sc.ceilingTx, b.sc.rows); i++ {
			r, err := copyRow(i/b.sc.rowsPerRecord, i, fmt.Sprintf("rec%08d", i/b.sc.rowsPerRecord), extracted, extracted)
			if err != nil {
				return 0, err
			}
			rows = append(rows, r)
		}
		start := time.Now()
		err := pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "CREATE TEMP TABLE _bench_stage (LIKE "+sp.Table+" INCLUDING DEFAULTS) ON COMMIT DROP"); err != nil {
				return err
			}
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"_bench_stage"}, cols, pgx.CopyFromRows(rows)); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, upsert)
			return err
		})
		if err != nil {
			return 0, err
		}
		spent += time.Since(start)
	}
	if n, err := b.count(ctx, sp.Table); err != nil || n != b.sc.rows {
		return 0, fmt.Errorf("ceiling table holds %d rows, want %d (%v)", n, b.sc.rows, err)
	}
	return float64(b.sc.rows) / spent.Seconds(), nil
}

// singleRow upserts rows one statement (one transaction) at a time.
func (b *loadBench) singleRow(ctx context.Context) (float64, error) {
	sp, err := b.table(ctx, "single")
	if err != nil {
		return 0, err
	}
	if err := b.createTable(ctx, sp); err != nil {
		return 0, err
	}
	cols := allColumns(sp)
	params := make([]string, len(cols))
	for i := range params {
		params[i] = fmt.Sprintf("$%d", i+1)
	}
	stmt := upsertSQL(sp, "VALUES ("+strings.Join(params, ", ")+")")
	extracted := time.Now().UTC()
	var spent time.Duration
	for i := int64(0); i < b.sc.singleRows; i++ {
		r, err := copyRow(i/b.sc.rowsPerRecord, i, fmt.Sprintf("rec%08d", i/b.sc.rowsPerRecord), extracted, extracted)
		if err != nil {
			return 0, err
		}
		start := time.Now()
		if _, err := b.pool.Exec(ctx, stmt, r...); err != nil {
			return 0, err
		}
		spent += time.Since(start)
	}
	return float64(b.sc.singleRows) / spent.Seconds(), nil
}

func round(v float64) float64  { return float64(int64(v + 0.5)) }
func round3(v float64) float64 { return float64(int64(v*1000+0.5)) / 1000 }
