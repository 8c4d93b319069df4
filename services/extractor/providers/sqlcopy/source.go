package sqlcopy

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sluice-dev/sluice/internal/ratelimit"
	"github.com/sluice-dev/sluice/services/extractor/provider"
)

// tableState is a configured table resolved against the source's catalog.
type tableState struct {
	cfg  Table
	info *TableInfo
	// cols are the columns selected, in page order; key and version index into them.
	cols    []Column
	key     []Column
	version string
	// byKey pages in key order (backfill, incremental by key); incremental pages in
	// (version column, key) order when the table has an incremental column.
	byKey, incremental query
}

// resolve reads a table's catalog once per provider instance.
func (p *sqlcopy) resolve(ctx context.Context, dataset string) (*tableState, error) {
	p.mu.Lock()
	ts, ok := p.resolved[dataset]
	p.mu.Unlock()
	if ok {
		return ts, nil
	}
	t, ok := p.tables[dataset]
	if !ok {
		return nil, fmt.Errorf("%w: dataset %q is not configured", provider.ErrPermanent, dataset)
	}
	var info *TableInfo
	err := p.query(ctx, func(ctx context.Context, conn *pgx.Conn) error {
		var err error
		if info, err = ReadTable(ctx, conn, t.Source); errors.Is(err, ErrTableNotFound) {
			err = fmt.Errorf("%w: %v", provider.ErrPermanent, err) // no retry brings it
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	ts, err = newTableState(t, info, p.cfg.Dialect)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", provider.ErrPermanent, err)
	}
	p.mu.Lock()
	p.resolved[dataset] = ts
	p.mu.Unlock()
	return ts, nil
}

func newTableState(t Table, info *TableInfo, dialect string) (*tableState, error) {
	keyNames := t.Key
	if len(keyNames) == 0 {
		keyNames = info.PrimaryKey
	}
	if len(keyNames) == 0 {
		return nil, fmt.Errorf("table %s has no primary key: set key to a unique, non-null key", t.Source)
	}
	ts := &tableState{cfg: t, info: info, version: t.versionColumn()}
	cols, err := selected(info, t.Columns, keyNames, ts.version)
	if err != nil {
		return nil, err
	}
	ts.cols = cols
	for _, k := range keyNames {
		c, _ := info.Column(k) // selected checked it
		ts.key = append(ts.key, c)
	}
	if ts.version != "" {
		vc, _ := info.Column(ts.version)
		switch vc.kind() {
		case kindInt, kindDate, kindTimestamp, kindTimestampTZ:
		default:
			return nil, fmt.Errorf("table %s: version column %s is %s, want a timestamp, date or integer", t.Source, vc.Name, vc.DataType)
		}
	}
	ts.byKey = newQuery(info, cols, ts.key, t.Filter, dialect)
	ts.incremental = ts.byKey
	if t.Incremental != nil && t.Incremental.Column != "" {
		vc, _ := info.Column(t.Incremental.Column)
		ts.incremental = newQuery(info, cols, append([]Column{vc}, ts.key...), t.Filter, dialect)
	}
	return ts, nil
}

// orderIndex returns the positions in the selected columns of q's order columns.
func (ts *tableState) orderIndex(q query) []int {
	idx := make([]int, len(q.order))
	for i, o := range q.order {
		idx[i] = slices.IndexFunc(ts.cols, func(c Column) bool { return quoteIdent(c.Name) == o.name })
	}
	return idx
}

// query runs fn on a source connection under a permit of the governor: all replicas
// together never run more than Config.Concurrency queries on the source. A query killed
// by the source (cancelled, timed out, its session terminated or its connection lost) is
// retried with backoff up to PageRetries times (retry, when set, sees the error first);
// errors of the query itself (a wrong column, no permission) are permanent.
func (p *sqlcopy) query(ctx context.Context, fn func(ctx context.Context, conn *pgx.Conn) error, retry ...func(error)) error {
	for attempt := 0; ; attempt++ {
		err := p.queryOnce(ctx, fn)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("source query: %w", context.Cause(ctx))
		}
		if !Killed(err) {
			if errors.Is(err, provider.ErrPermanent) {
				return err
			}
			return fmt.Errorf("%w: source query: %v", provider.ErrPermanent, err)
		}
		if attempt >= p.cfg.PageRetries {
			return fmt.Errorf("source query killed %d times: %w", attempt+1, err)
		}
		wait := min(200*time.Millisecond<<attempt, 10*time.Second)
		wait = wait/2 + rand.N(wait/2+1)
		p.log.WarnContext(ctx, "source query killed; retrying", "error", err, "attempt", attempt+1, "wait", wait)
		p.retries.Add(ctx, 1)
		for _, r := range retry {
			r(err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("source query: %w", context.Cause(ctx))
		case <-time.After(wait):
		}
	}
}

func (p *sqlcopy) queryOnce(ctx context.Context, fn func(ctx context.Context, conn *pgx.Conn) error) (err error) {
	permit, err := p.gov.Acquire(ctx, ratelimit.Request{Host: p.host})
	if err != nil {
		return err
	}
	defer func() {
		o := ratelimit.Outcome{Kind: ratelimit.Success}
		if err != nil {
			o.Kind = ratelimit.Failed
		}
		_ = permit.Release(ctx, o)
	}()
	conn, err := p.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("connect to source %s: %w", p.host, err)
	}
	defer conn.Release()
	return fn(ctx, conn.Conn())
}

// Killed reports whether err is the source ending a query rather than refusing it:
// pg_cancel_backend or statement_timeout (57014), pg_terminate_backend or a shutdown
// (57P01..57P03), a serialization failure or deadlock, too many connections, or no answer
// at all (a lost connection, a network failure). Such a query is worth running again.
func Killed(err error) bool {
	if errors.Is(err, provider.ErrPermanent) {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "57014", "57P01", "57P02", "57P03", "40001", "40P01", "53300":
			return true
		}
		return false
	}
	return true
}

// statementTimeout reports whether err is statement_timeout ending a query.
func statementTimeout(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "57014" && pgErr.Message == "canceling statement due to statement timeout"
}
