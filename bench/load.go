package main

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluice-dev/sluice/internal/bus"
	"github.com/sluice-dev/sluice/internal/spec"
	"github.com/sluice-dev/sluice/internal/specstore"
	"github.com/sluice-dev/sluice/internal/testinfra"
)

// loadSuite measures, in one run and on one table shape, how fast rows reach PostgreSQL:
//
//   - copy_upsert_ceiling_rows_per_s: pgx CopyFrom of ready-made rows into a temporary
//     table plus INSERT … ON CONFLICT DO UPDATE with the monotonic guard, in large
//     transactions: what the database can take.
//   - copy_limit_rows_per_s: plain binary COPY of the same rows into an empty table with the
//     same primary key over as many connections as the loader uses: the physical limit.
//   - load_ratio: the loader process alone draining a ROWS stream filled beforehand.
//   - e2e_ratio: RAW → staging-store → transformer → loader → PostgreSQL, all processes.
//   - replay_ratio: `sluice replay` of the same staged records into the emptied table.
//   - single_row_ratio: one INSERT … ON CONFLICT statement per row, the naive baseline.
//   - stage/transform/load_peak_rss_mb: each service's VmHWM while one large report
//     (1 GB; 64 MB under BENCH_SCALE=small), claim-checked through S3, flows through.
//
// Every *_ratio divides a phase's median rows per second by the ceiling measured in the
// same run. The physical limit and the phases run BENCH_ROUNDS times, alternating, so a
// slow spell of a shared machine falls on both: copy_limit_rows_per_s is the best round,
// *_limit_ratio the median over rounds of the phase's rate over the limit measured just
// before it, *_limit_ratio_min/_max its range, and *_spread (the phase's fastest round
// over its slowest) says how steady the phase was.
//
// Knobs for finding where time goes: BENCH_LOAD_PHASES (load, e2e) runs only those phases,
// BENCH_ALT_LOADER names a second loader binary measured in the same rounds, BENCH_LOADER_CONNS
// sets the loader's connections and the limit's together, BENCH_PROFILE names a directory for
// the services' CPU profiles, BENCH_SERVICE_ENV="K=V …" tries a setting on every service.
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
	b, err := openLoadBench(ctx, env)
	if err != nil {
		return err
	}
	defer b.close(context.WithoutCancel(ctx))

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
	if want("single") {
		single, err := b.singleRow(ctx)
		if err != nil {
			return fmt.Errorf("single-row baseline: %w", err)
		}
		env.Logf("single_row_ratio: %.0f rows/s", single)
		env.Emit("single_row_ratio", round3(single/ceiling))
	}
	// The physical limit and the phases alternate, round after round, so that a slow
	// spell of the machine falls on both; each phase reports its median round and the
	// spread of its rounds.
	var limits []float64
	phaseRates := map[string][]float64{}
	// phaseLimit holds, per phase and round, the limit measured just before it.
	phaseLimit := map[string][]float64{}
	add := func(ph string, rate, limit float64) {
		phaseRates[ph] = append(phaseRates[ph], rate)
		phaseLimit[ph] = append(phaseLimit[ph], limit)
	}
	for r := range b.rounds {
		b.checkpoint(ctx)
		limit, err := b.copyLimitRound(ctx, r)
		if err != nil {
			return fmt.Errorf("physical limit: %w", err)
		}
		env.Logf("round %d: copy limit %.0f rows/s", r+1, limit)
		limits = append(limits, limit)
		if want("load") {
			// BENCH_ALT_LOADER names another loader binary (e.g. one built from main) to
			// measure in the same rounds: an A/B comparison on equal terms, the order of
			// the two swapped every other round so that neither always runs second.
			bins := []string{""}
			if alt := os.Getenv("BENCH_ALT_LOADER"); alt != "" {
				bins = append(bins, alt)
				if r%2 == 1 {
					bins[0], bins[1] = bins[1], bins[0]
				}
			}
			for _, bin := range bins {
				b.checkpoint(ctx)
				rate, err := b.loaderAlone(ctx, r, bin)
				if err != nil {
					return fmt.Errorf("loader alone (%s): %w", cmp.Or(bin, "this tree's"), err)
				}
				if bin == "" {
					env.Logf("round %d: load %.0f rows/s (%.3f of the limit)", r+1, rate, rate/limit)
					add("load", rate, limit)
				} else {
					env.Logf("round %d: alternative loader %.0f rows/s (%.3f of the limit)", r+1, rate, rate/limit)
					add("load_alt", rate, limit)
				}
			}
		}
		if want("e2e") {
			b.checkpoint(ctx)
			e2e, replay, err := b.endToEnd(ctx, r)
			if err != nil {
				return fmt.Errorf("end to end: %w", err)
			}
			env.Logf("round %d: e2e %.0f rows/s (%.3f), replay %.0f rows/s (%.3f)", r+1, e2e, e2e/limit, replay, replay/limit)
			add("e2e", e2e, limit)
			add("replay", replay, limit)
		}
		if err := b.purge(ctx); err != nil {
			return err
		}
	}
	env.Emit("copy_limit_rows_per_s", round(slices.Max(limits)))
	env.Emit("copy_limit_spread", round3(slices.Max(limits)/slices.Min(limits)))
	for _, ph := range loadPhases {
		rates := phaseRates[ph.phase]
		if len(rates) == 0 {
			continue
		}
		ratios := make([]float64, len(rates))
		for i, r := range rates {
			ratios[i] = r / phaseLimit[ph.phase][i]
		}
		med := median(rates)
		env.Logf("%s: median %.0f rows/s over %d rounds", ph.phase, med, len(rates))
		env.Emit(ph.ratio, round3(med/ceiling))
		env.Emit(ph.limitRatio, round3(median(ratios)))
		env.Emit(ph.limitRatio+"_min", round3(slices.Min(ratios)))
		env.Emit(ph.limitRatio+"_max", round3(slices.Max(ratios)))
		// spread: the fastest round over the slowest; 1 is perfectly steady.
		env.Emit(ph.spread, round3(slices.Max(rates)/slices.Min(rates)))
	}
	if want("rss") {
		return b.largeReport(ctx)
	}
	return nil
}

// loadPhases names each phase's figures in full, so every figure can be found by its name.
var loadPhases = []struct{ phase, ratio, limitRatio, spread string }{
	{"load", "load_ratio", "load_limit_ratio", "load_spread"},
	{"load_alt", "load_alt_ratio", "load_alt_limit_ratio", "load_alt_spread"},
	{"e2e", "e2e_ratio", "e2e_limit_ratio", "e2e_spread"},
	{"replay", "replay_ratio", "replay_limit_ratio", "replay_spread"},
}

// median of rates (the mean of the middle two for an even count).
func median(rates []float64) float64 {
	s := slices.Sorted(slices.Values(rates))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// purge empties the streams between rounds (everything in them is acked by then), so a
// full-scale run does not keep millions of rows on disk, and drops the staged documents:
// a replay reads the provider's collection, and with FerretDB its filter is applied after
// a full scan, so the staged documents of earlier rounds would slow every later replay.
// checkpoint makes PostgreSQL write out what earlier phases left in its WAL, so that no
// phase, the limit included, pays for another's checkpoint. Without it the first round's
// limit came right after the ceiling's writes and was measured 20 % low (its
// load_limit_ratio 0.93 against about 0.72 in the rounds after); with it the rounds agree
// within 3 %. A server that refuses (no privilege) is measured as it is.
func (b *loadBench) checkpoint(ctx context.Context) {
	if _, err := b.pool.Exec(ctx, "CHECKPOINT"); err != nil && !b.noCheckpoint {
		b.noCheckpoint = true
		b.env.Logf("CHECKPOINT refused (%v): phases are measured without it", err)
	}
}

func (b *loadBench) purge(ctx context.Context, more ...string) error {
	if err := b.p.dropStaging(ctx); err != nil {
		return err
	}
	for _, name := range append([]string{bus.StreamRaw, bus.StreamStaged, bus.StreamRows}, more...) {
		s, err := b.p.js.Stream(ctx, name)
		if err != nil {
			return err
		}
		if err := s.Purge(ctx); err != nil {
			return fmt.Errorf("purge %s: %w", name, err)
		}
	}
	return nil
}

// openLoadBench builds the services and starts the environment the load phases share.
func openLoadBench(ctx context.Context, env *Env) (_ *loadBench, err error) {
	sc := scaleOf(env.Small)
	env.Logf("building service binaries")
	if err := testinfra.Build(ctx, env.Root, env.Bin, "sluice-staging-store", "sluice-transformer", "sluice-loader", "sluice"); err != nil {
		return nil, err
	}
	rounds := 3
	if v := os.Getenv("BENCH_ROUNDS"); v != "" {
		if rounds, err = strconv.Atoi(v); err != nil || rounds < 1 {
			return nil, fmt.Errorf("BENCH_ROUNDS %q: want a positive number", v)
		}
	}
	p, err := newPipeline(ctx, env)
	if err != nil {
		return nil, err
	}
	b := &loadBench{env: env, sc: sc, p: p, suffix: randHex(3), rounds: rounds}
	defer func() {
		if err != nil {
			b.close(context.WithoutCancel(ctx))
		}
	}()
	if err := bus.Provision(ctx, p.js, bus.DefaultProvision()); err != nil {
		return b, err
	}
	if b.pool, err = pgxpool.New(ctx, p.infra.PostgresURL); err != nil {
		return b, fmt.Errorf("postgres: %w", err)
	}
	if b.specs, err = specstore.Open(ctx, p.js); err != nil {
		return b, err
	}
	return b, nil
}

// close drops the bench's tables and stops its environment.
func (b *loadBench) close(ctx context.Context) {
	if b.pool != nil {
		b.dropTables(ctx)
		b.pool.Close()
	}
	b.p.close()
}

type loadBench struct {
	env    *Env
	sc     loadScale
	p      *pipeline
	pool   *pgxpool.Pool
	specs  *specstore.Store
	suffix string
	tables []string
	// rounds is how many times each phase runs (BENCH_ROUNDS, default 3).
	rounds int
	// noCheckpoint is set once the server refused a CHECKPOINT.
	noCheckpoint bool
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
