package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluice-dev/sluice/internal/testinfra"
	"github.com/sluice-dev/sluice/services/simulators/amazonads/sim"
)

// progress shows the run while it goes: API calls, 429s, reports downloaded, rows loaded.
type progress struct {
	sim   *sim.Server
	pool  *pgxpool.Pool
	table string
	want  int64
	start time.Time
	out   io.Writer
	group testinfra.Group
}

// wait returns once the table holds every expected row, or fails when a service exits or
// timeout passes. On a terminal the status line is redrawn every second; otherwise a line
// is printed every five seconds.
func (p *progress) wait(ctx context.Context, timeout time.Duration) error {
	tty := isTerminal(os.Stdout)
	every := 5 * time.Second
	if tty {
		every = time.Second
	}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	deadline := p.start.Add(timeout)
	var last time.Time
	for {
		rows := p.rows(ctx)
		if rows >= p.want || time.Since(last) >= every {
			p.print(rows, tty)
			last = time.Now()
		}
		if rows >= p.want {
			if tty {
				fmt.Fprintln(p.out)
			}
			return nil
		}
		for _, proc := range p.group {
			if exited, err := proc.Exited(); exited {
				return fmt.Errorf("%s exited (%v) with %d of %d rows loaded:\n%s", proc.Name, err, rows, p.want, proc.Tail(3000))
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d rows loaded after %v; see the logs in .demo/logs", rows, p.want, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

func (p *progress) rows(ctx context.Context) int64 {
	var n int64
	// The table appears with the first load.
	if err := p.pool.QueryRow(ctx, "SELECT count(*) FROM "+p.table).Scan(&n); err != nil {
		return 0
	}
	return n
}

func (p *progress) print(rows int64, tty bool) {
	st := p.sim.Stats()
	line := fmt.Sprintf("  %5.0fs  calls %5d  429s %4d  5xx %3d  reports %4d/%d downloaded  rows %7d/%d (%3.0f%%)",
		time.Since(p.start).Seconds(), apiCalls(st), st.Throttled, st.ServerErrors,
		st.Requests[sim.ClassDownload]["200"], st.ReportsCreated, rows, p.want, 100*float64(rows)/float64(p.want))
	if tty {
		fmt.Fprintf(p.out, "\r%s", line)
		return
	}
	fmt.Fprintln(p.out, line)
}

// apiCalls counts every answered call to the quota-limited API (downloads are S3 and
// have no quota).
func apiCalls(st sim.Stats) int64 {
	var n int64
	for class, byStatus := range st.Requests {
		if class == sim.ClassDownload {
			continue
		}
		for _, c := range byStatus {
			n += c
		}
	}
	return n
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
