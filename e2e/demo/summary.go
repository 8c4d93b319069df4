package main

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluice-dev/sluice/e2e/harness"
	"github.com/sluice-dev/sluice/internal/testinfra"
	"github.com/sluice-dev/sluice/services/simulators/amazonads/sim"
)

type summaryInput struct {
	env     testinfra.Env
	pool    *pgxpool.Pool
	sim     sim.Stats
	quota   float64
	elapsed time.Duration
	pgURL   string
}

// summary prints what the run did: rows per table, the API calls it took and how close
// to the quota's ideal time it ran, the dead letters, a trace and where to look.
func summary(ctx context.Context, in summaryInput) error {
	tables, err := tableRows(ctx, in.pool)
	if err != nil {
		return err
	}
	dlq := streamMsgs(ctx, in.env.NATSURL, "DLQ")
	calls := apiCalls(in.sim)
	admitted := calls - in.sim.Throttled
	ideal := time.Duration(float64(admitted) / in.quota * float64(time.Second))

	fmt.Println()
	fmt.Println("sluice demo: done")
	for _, t := range tables {
		fmt.Printf("  table         %-28s %8d rows\n", t.name, t.rows)
	}
	fmt.Printf("  API calls     %d (%d reports created, %d downloads), %d answered 429 (%.2f%%), %d 5xx\n",
		calls, in.sim.ReportsCreated, in.sim.Requests[sim.ClassDownload]["200"], in.sim.Throttled,
		100*float64(in.sim.Throttled)/float64(max(calls, 1)), in.sim.ServerErrors)
	fmt.Printf("  elapsed       %v; the quota's ideal for %d admitted calls at %g/s is %v (ratio %.2f)\n",
		in.elapsed.Round(time.Millisecond), admitted, in.quota, ideal.Round(time.Millisecond), in.elapsed.Seconds()/max(ideal.Seconds(), 0.001))
	fmt.Printf("  dead letters  %d on DLQ (sluice dlq list)\n", dlq)
	var traceID string
	_ = in.pool.QueryRow(ctx, "SELECT _trace_id FROM "+demoTable+" LIMIT 1").Scan(&traceID)
	if traceID != "" {
		// Give the exporters a moment so the link shows the whole trace.
		for i := 0; i < 20; i++ {
			spans, _ := harness.Trace(ctx, in.env.JaegerURL, traceID)
			if len(harness.Stages(spans)) == 4 {
				break
			}
			time.Sleep(250 * time.Millisecond)
		}
		fmt.Printf("  trace         %s\n", harness.JaegerLink(in.env.JaegerURL, traceID))
	}
	fmt.Printf("  rows          psql '%s' -c 'SELECT * FROM %s ORDER BY date DESC LIMIT 10'\n", in.pgURL, demoTable)
	fmt.Println("  next          sluice status · sluice dlq list · sluice trace " + demoTable + " --latest · sluice replay --provider amazonads")
	fmt.Println("                (the CLI reads the \"demo\" context these servers were saved in: sluice context)")
	return nil
}

type tableCount struct {
	name string
	rows int64
}

// tableRows counts the rows of every table the loader made.
func tableRows(ctx context.Context, pool *pgxpool.Pool) ([]tableCount, error) {
	rows, err := pool.Query(ctx, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1")
	if err != nil {
		return nil, err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	out := make([]tableCount, 0, len(names))
	for _, n := range names {
		var c int64
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{n}.Sanitize()).Scan(&c); err != nil {
			return nil, err
		}
		out = append(out, tableCount{n, c})
	}
	return out, nil
}

func streamMsgs(ctx context.Context, url, stream string) uint64 {
	nc, err := nats.Connect(url)
	if err != nil {
		return 0
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return 0
	}
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return 0
	}
	return s.CachedInfo().State.Msgs
}
