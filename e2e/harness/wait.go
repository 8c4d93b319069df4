package harness

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluice-dev/sluice/internal/testinfra"
)

func waitReady(p *testinfra.Proc, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if exited, err := p.Exited(); exited {
			return fmt.Errorf("%s exited during start (%v):\n%s", p.Name, err, p.Tail(4000))
		}
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready on %s within %v:\n%s", p.Name, addr, timeout, p.Tail(4000))
}

// WaitRows waits until table holds want rows (a missing table counts as empty) and returns
// the count it saw last.
func WaitRows(ctx context.Context, pool *pgxpool.Pool, table string, want int64, timeout time.Duration) (int64, error) {
	deadline := time.Now().Add(timeout)
	var n int64
	for {
		err := pool.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n)
		if err == nil && n >= want {
			return n, nil
		}
		if time.Now().After(deadline) {
			return n, fmt.Errorf("table %s holds %d rows after %v, want %d (last error: %v)", table, n, timeout, want, err)
		}
		select {
		case <-ctx.Done():
			return n, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
