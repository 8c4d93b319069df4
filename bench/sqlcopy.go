package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluice-dev/sluice/internal/bus"
	"github.com/sluice-dev/sluice/internal/spec"
	"github.com/sluice-dev/sluice/internal/testinfra"
	"github.com/sluice-dev/sluice/services/extractor/provider"
	"github.com/sluice-dev/sluice/services/extractor/providers/sqlcopy"
	"github.com/sluice-dev/sluice/services/extractor/providers/sqlcopy/sqlcopytest"
)

// sqlcopySuite measures the relational-source provider:
//   - sqlcopy_ratio: rows/s of a table copied by the whole pipeline (sqlcopy extractor →
//     staging-store → transformer → loader) ÷ rows/s of a direct COPY (SELECT …) TO STDOUT
//     piped into COPY … FROM STDIN between the same two databases, measured in the same
//     run on the same table of 1M rows (200k small) (goal ≥ 0.5).
//   - sqlcopy_peak_rss_mb: the extractor's peak RSS (VmHWM) copying the largest table
//     (10M rows; 200k small), and sqlcopy_peak_rss_mb_1m for the smaller one (1M; 50k
//     small): memory must stay flat whatever the table's size (goal ≤ 150 MB). Both
//     copies run in 8 partitions on 8 workers, so only the table's size differs.
//   - sqlcopy_extract_ratio (information, no goal): the same baseline ÷ the time until the
//     extractor published its last page, i.e. the provider's share of the pipeline.
var sqlcopySuite = Suite{Name: "sqlcopy", Run: runSQLCopy}

func runSQLCopy(ctx context.Context, env *Env) error {
	// The ratio is measured on a table large enough that starting the copy (planning,
	// the first pages through every stage) does not weigh: 1M rows, 200k at small scale.
	sizes, ratioAt := []int{1_000_000, 10_000_000}, 0
	if env.Small {
		sizes, ratioAt = []int{50_000, 200_000}, 1
	}
	// BENCH_SQLCOPY_RATIO_ONLY=1 copies only the table the ratio is measured on, while
	// working on the ratio (the memory figures need both sizes).
	if os.Getenv("BENCH_SQLCOPY_RATIO_ONLY") == "1" {
		sizes, ratioAt = sizes[ratioAt:ratioAt+1], 0
	}
	if err := testinfra.Build(ctx, env.Root, env.Bin, "sluice-extractor", "sluice-staging-store", "sluice-transformer", "sluice-loader"); err != nil {
		return err
	}
	p, err := newPipeline(ctx, env)
	if err != nil {
		return err
	}
	defer p.close()
	suffix := randHex(4)
	srcName, dstName := "sluice_bench_sqlsrc_"+suffix, "sluice_bench_sqldst_"+suffix
	srcURL, err := testinfra.CreateDatabase(ctx, p.infra.PostgresURL, srcName)
	if err != nil {
		return err
	}
	defer testinfra.DropDatabase(context.WithoutCancel(ctx), p.infra.PostgresURL, srcName) //nolint:errcheck
	dstURL, err := testinfra.CreateDatabase(ctx, p.infra.PostgresURL, dstName)
	if err != nil {
		return err
	}
	defer testinfra.DropDatabase(context.WithoutCancel(ctx), p.infra.PostgresURL, dstName) //nolint:errcheck
	src, err := pgx.Connect(ctx, srcURL)
	if err != nil {
		return err
	}
	defer src.Close(context.WithoutCancel(ctx))
	dst, err := pgx.Connect(ctx, dstURL)
	if err != nil {
		return err
	}
	defer dst.Close(context.WithoutCancel(ctx))
	specDir, err := os.MkdirTemp("", "sluice-bench-sqlcopy")
	if err != nil {
		return err
	}
	defer os.RemoveAll(specDir)

	group, err := p.startStages("SLUICE_POSTGRES_URL=" + dstURL)
	if err != nil {
		return err
	}
	defer group.Stop(30 * time.Second) //nolint:errcheck

	var rss []float64
	for i, rows := range sizes {
		name := fmt.Sprintf("bench_rows_%d", rows)
		start := time.Now()
		if err := sqlcopytest.Create(ctx, src, sqlcopytest.Table{Name: name, Key: sqlcopytest.KeyInt, Rows: rows}); err != nil {
			return err
		}
		env.Logf("sqlcopy: source table of %d rows generated in %v", rows, time.Since(start).Round(time.Millisecond))
		specFile, err := sqlcopytest.WriteSpec(ctx, src, specDir, "public."+name, name, "copy_"+name)
		if err != nil {
			return err
		}
		sp, err := readSpec(specFile)
		if err != nil {
			return err
		}
		var base time.Duration
		if i == ratioAt {
			if base, err = directCopy(ctx, src, dst, sp, name); err != nil {
				return fmt.Errorf("baseline: %w", err)
			}
			env.Logf("sqlcopy: direct COPY: %d rows in %v (%.0f rows/s)", rows, base.Round(time.Millisecond), float64(rows)/base.Seconds())
		}
		res, err := pipelineCopy(ctx, p, group, dst, srcURL, dstURL, specDir, sp, name, rows)
		if err != nil {
			return err
		}
		wall, peak := res.wall, res.peakRSSMB
		env.Logf("sqlcopy: pipeline: %d rows in %v (%.0f rows/s; extraction alone %v), extractor peak RSS %.0f MB",
			rows, wall.Round(time.Millisecond), float64(rows)/wall.Seconds(), res.extract.Round(time.Millisecond), peak)
		if i == ratioAt {
			env.Emit("sqlcopy_ratio", round3(base.Seconds()/wall.Seconds()))
			// Not a goal: where the time goes. The extractor's share (source → RAW) against the
			// same baseline tells the provider's speed from the generic stages' after it.
			env.Emit("sqlcopy_extract_ratio", round3(base.Seconds()/res.extract.Seconds()))
		}
		rss = append(rss, peak)
		if n, err := sqlcopytest.Compare(ctx, srcURL, "public."+name, dstURL, sp.Table); err != nil || n != rows {
			return fmt.Errorf("copy of %s: %d rows equal, want %d: %v", name, n, rows, err)
		}
		if _, err := src.Exec(ctx, "DROP TABLE "+name); err != nil {
			return err
		}
	}
	if len(rss) == 2 {
		env.Emit("sqlcopy_peak_rss_mb_1m", round(rss[0]))
		env.Emit("sqlcopy_peak_rss_mb", round(rss[1]))
	}
	return nil
}

func readSpec(path string) (*spec.Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return spec.Parse(data)
}

// directCopy is the baseline: COPY (SELECT the columns the provider selects) TO STDOUT
// from the source piped into COPY FROM STDIN of a table of the destination types.
func directCopy(ctx context.Context, src, dst *pgx.Conn, sp *spec.Spec, source string) (time.Duration, error) {
	info, err := sqlcopy.ReadTable(ctx, src, "public."+source)
	if err != nil {
		return 0, err
	}
	var cols, exprs []string
	for i, c := range sp.Columns {
		cols = append(cols, pgx.Identifier{c.Name}.Sanitize()+" "+c.Type.PostgresType())
		sc := info.Columns[i]
		q := pgx.Identifier{sc.Name}.Sanitize()
		switch sc.DataType {
		case "ARRAY":
			q = "to_jsonb(" + q + ")"
		case "json":
			q += "::jsonb"
		}
		exprs = append(exprs, q)
	}
	target := "baseline_" + source
	ddl := fmt.Sprintf("CREATE TABLE %s (%s, PRIMARY KEY (%s))", target, strings.Join(cols, ", "), strings.Join(sp.PrimaryKey, ", "))
	if _, err := dst.Exec(ctx, ddl); err != nil {
		return 0, err
	}
	start := time.Now()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := src.PgConn().CopyTo(ctx, pw, "COPY (SELECT "+strings.Join(exprs, ", ")+" FROM "+source+") TO STDOUT")
		pw.CloseWithError(err)
		done <- err
	}()
	tag, err := dst.PgConn().CopyFrom(ctx, pr, "COPY "+target+" FROM STDIN")
	if cerr := <-done; err == nil {
		err = cerr
	}
	if err != nil {
		return 0, err
	}
	elapsed := time.Since(start)
	if tag.RowsAffected() == 0 {
		return 0, fmt.Errorf("baseline copied no row")
	}
	_, err = dst.Exec(ctx, "DROP TABLE "+target)
	return elapsed, err
}

// copied is what one pipeline copy measured.
type copied struct {
	// wall runs from the plan to the last row committed; extract from the plan to the
	// last page published to RAW.
	wall, extract time.Duration
	peakRSSMB     float64
}

// pipelineCopy copies table source with a fresh sqlcopy extractor through the running
// stages.
func pipelineCopy(ctx context.Context, p *pipeline, stages testinfra.Group, dst *pgx.Conn, srcURL, dstURL, specDir string, sp *spec.Spec, source string, rows int) (copied, error) {
	cfg := sqlcopy.DefaultConfig()
	cfg.Tables = []sqlcopy.Table{{Dataset: sp.Dataset, Source: "public." + source, SpecFile: filepath.Join(specDir, sp.Dataset+".json"), Partitions: 8}}
	data, err := json.Marshal(cfg)
	if err != nil {
		return copied{}, err
	}
	cfgPath := filepath.Join(specDir, source+"-config.json")
	if err := os.WriteFile(cfgPath, data, 0o644); err != nil {
		return copied{}, err
	}
	ext, err := testinfra.StartProc("sluice-extractor-"+randHex(2), filepath.Join(p.env.Bin, "sluice-extractor"),
		[]string{"--provider", sqlcopy.Name, "--provider-config", cfgPath, "--workers", "8"},
		p.serviceEnv("SLUICE_POSTGRES_URL="+dstURL, sqlcopy.EnvSourceURL+"="+srcURL), p.logDir)
	if err != nil {
		return copied{}, err
	}
	defer ext.Stop(30 * time.Second) //nolint:errcheck
	msg, err := provider.PlanMessage(sqlcopy.Name, provider.Trigger{RunID: "bench-" + source, Source: "cli", From: time.Now(), To: time.Now()})
	if err != nil {
		return copied{}, err
	}
	count := func(ctx context.Context) (bool, error) {
		var n int
		if err := dst.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{sp.Table}.Sanitize()).Scan(&n); err != nil {
			if strings.Contains(err.Error(), "42P01") {
				return false, nil
			}
			return false, err
		}
		return n == rows, nil
	}
	start := time.Now()
	if _, err := bus.Publish(ctx, p.js, msg); err != nil {
		return copied{}, err
	}
	watch := append(watchAll(stages), procWatch{ext})
	_, end, err := p.drained(ctx, 2*time.Hour, watch, count,
		consumerRef{bus.StreamTasks, "extractor-" + sqlcopy.Name, 0}, consumerRef{bus.StreamRaw, "staging-store", 0},
		consumerRef{bus.StreamStaged, "transformer", 0}, consumerRef{bus.StreamRows, "loader", 0})
	if err != nil {
		return copied{}, fmt.Errorf("pipeline copy of %s: %w\n%s", source, err, ext.Tail(2000))
	}
	peak, err := peakRSSMB(ext.Pid())
	if err != nil {
		return copied{}, err
	}
	raw, err := p.js.Stream(ctx, bus.StreamRaw)
	if err != nil {
		return copied{}, err
	}
	return copied{wall: end.Sub(start), extract: raw.CachedInfo().State.LastTime.Sub(start), peakRSSMB: peak}, nil
}
