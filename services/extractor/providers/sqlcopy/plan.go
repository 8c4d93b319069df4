package sqlcopy

import (
	"context"
	"errors"
	"fmt"
	"math/big"

	"github.com/jackc/pgx/v5"

	"github.com/sluice-dev/sluice/services/extractor/provider"
	"github.com/sluice-dev/sluice/services/extractor/provider/checkpoint"
)

// Plan turns a run into tasks: for each table (or the one named by the trigger's
// "dataset" param), the partitions of a backfill or one incremental pass. The "mode"
// param (backfill, incremental, auto) overrides the table's mode.
func (p *sqlcopy) Plan(ctx context.Context, trig provider.Trigger) ([]provider.Task, error) {
	want := trig.Params["dataset"]
	var tasks []provider.Task
	found := false
	for _, t := range p.cfg.Tables {
		if want != "" && t.Dataset != want {
			continue
		}
		found = true
		mode := t.mode()
		if m := trig.Params["mode"]; m != "" {
			mode = m
		}
		ts, err := p.resolve(ctx, t.Dataset)
		if err != nil {
			return nil, err
		}
		switch mode {
		case ModeAuto:
			mode = ModeBackfill
			if t.Incremental != nil {
				cur, err := checkpoint.Load[cursor](ctx, p.ckpt, p.incrementalKey(t.Dataset))
				if err != nil {
					return nil, err
				}
				if cur.Found {
					mode = ModeIncremental
				}
			}
		case ModeBackfill:
		case ModeIncremental:
			if t.Incremental == nil {
				return nil, fmt.Errorf("%w: dataset %s has no incremental configuration", provider.ErrPermanent, t.Dataset)
			}
		default:
			return nil, fmt.Errorf("%w: mode %q: want backfill, incremental or auto", provider.ErrPermanent, mode)
		}
		var planned []provider.Task
		if mode == ModeIncremental {
			var task provider.Task
			task, err = provider.NewTask(kindIncremental, t.Dataset+"/incremental", taskParams{Dataset: t.Dataset})
			planned = []provider.Task{task}
		} else {
			planned, err = p.planBackfill(ctx, ts)
		}
		if err != nil {
			return nil, err
		}
		tasks = append(tasks, planned...)
	}
	if !found {
		return nil, fmt.Errorf("%w: dataset %q is not configured", provider.ErrPermanent, want)
	}
	return tasks, nil
}

// planBackfill splits the table's key range into partitions of about PartitionRows rows
// (or Partitions of them), one task each, and sets the starting point of incremental runs
// to where the table is now (rows changed during the backfill are copied again by the
// first incremental pass, which the loader's upsert makes harmless).
func (p *sqlcopy) planBackfill(ctx context.Context, ts *tableState) ([]provider.Task, error) {
	t := ts.cfg
	if t.Incremental != nil {
		if err := p.startIncremental(ctx, ts); err != nil {
			return nil, err
		}
	}
	var n int64
	if t.Partitions != 1 { // one partition needs no count (a full scan on a big table)
		if err := p.query(ctx, func(ctx context.Context, conn *pgx.Conn) error {
			return conn.QueryRow(ctx, ts.byKey.count()).Scan(&n)
		}); err != nil {
			return nil, fmt.Errorf("count %s: %w", t.Source, err)
		}
	}
	parts := t.Partitions
	if parts == 0 {
		parts = int((n + t.partitionRows() - 1) / t.partitionRows())
	}
	parts = min(max(parts, 1), t.maxPartitions())
	var bounds [][]string
	if parts > 1 && n > 0 {
		var err error
		if len(ts.key) == 1 && ts.key[0].kind() == kindInt {
			bounds, err = p.intBounds(ctx, ts, parts)
		} else {
			bounds, err = p.sampledBounds(ctx, ts, parts, n)
		}
		if err != nil {
			return nil, fmt.Errorf("partition %s: %w", t.Source, err)
		}
	}
	tasks := make([]provider.Task, 0, len(bounds)+1)
	for i := 0; i <= len(bounds); i++ {
		tp := taskParams{Dataset: t.Dataset, Part: i}
		if i > 0 {
			tp.After = bounds[i-1]
		}
		if i < len(bounds) {
			tp.UpTo = bounds[i]
		}
		task, err := provider.NewTask(kindCopy, fmt.Sprintf("%s/p%05d", t.Dataset, i), tp)
		if err != nil {
			return nil, err
		}
		tasks = append(tasks, task)
	}
	return tasks, nil
}

// intBounds splits [min, max] of an integer key into equal spans.
func (p *sqlcopy) intBounds(ctx context.Context, ts *tableState, parts int) ([][]string, error) {
	var lo, hi *string
	if err := p.query(ctx, func(ctx context.Context, conn *pgx.Conn) error {
		return conn.QueryRow(ctx, ts.byKey.minMax(), pgx.QueryResultFormats{pgx.TextFormatCode}).Scan(&lo, &hi)
	}); err != nil {
		return nil, err
	}
	if lo == nil || hi == nil {
		return nil, nil
	}
	return intSplit(*lo, *hi, parts)
}

// intSplit returns the inclusive upper bounds of the first parts-1 of parts equal spans
// of [lo, hi] (fewer when the span is smaller than parts), in exact arithmetic.
func intSplit(lo, hi string, parts int) ([][]string, error) {
	a, ok1 := new(big.Int).SetString(lo, 10)
	b, ok2 := new(big.Int).SetString(hi, 10)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("integer key range %q..%q: not integers", lo, hi)
	}
	span := new(big.Int).Sub(b, a)
	span.Add(span, big.NewInt(1))
	var out [][]string
	prev := ""
	for i := 1; i < parts; i++ {
		// a + span*i/parts - 1
		v := new(big.Int).Mul(span, big.NewInt(int64(i)))
		v.Quo(v, big.NewInt(int64(parts)))
		v.Add(v, a)
		v.Sub(v, big.NewInt(1))
		if v.Cmp(a) < 0 || v.String() == prev {
			continue
		}
		prev = v.String()
		out = append(out, []string{prev})
	}
	return out, nil
}

// sampledBounds reads every step-th key of the table in key order (step = rows/parts).
func (p *sqlcopy) sampledBounds(ctx context.Context, ts *tableState, parts int, n int64) ([][]string, error) {
	step := (n + int64(parts) - 1) / int64(parts)
	var out [][]string
	err := p.query(ctx, func(ctx context.Context, conn *pgx.Conn) error {
		out = out[:0]
		rows, err := conn.Query(ctx, ts.byKey.boundaries(), pgx.QueryResultFormats{pgx.TextFormatCode}, step)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			out = append(out, textRow(rows.RawValues()))
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	// The last sample can be the greatest key: the partition after it would be empty.
	if len(out) >= parts {
		out = out[:parts-1]
	}
	return out, nil
}

// startIncremental sets the incremental cursor of a table to its current end: the
// greatest value of the incremental column (compared inclusively, so rows changed in that
// same instant are not missed) or the greatest key.
func (p *sqlcopy) startIncremental(ctx context.Context, ts *tableState) error {
	var after []string
	err := p.query(ctx, func(ctx context.Context, conn *pgx.Conn) error {
		sql := ts.byKey.lastKey()
		if col := ts.cfg.Incremental.Column; col != "" {
			sql = ts.byKey.maxOf(col)
		}
		rows, err := conn.Query(ctx, sql, pgx.QueryResultFormats{pgx.TextFormatCode})
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			if vals := rows.RawValues(); vals[0] != nil {
				after = textRow(vals)
			}
		}
		return rows.Err()
	})
	if err != nil {
		return fmt.Errorf("incremental start of %s: %w", ts.cfg.Source, err)
	}
	if after == nil {
		return nil // an empty table: the first incremental pass copies from the start
	}
	key := p.incrementalKey(ts.cfg.Dataset)
	for range 3 {
		cur, err := checkpoint.Load[cursor](ctx, p.ckpt, key)
		if err != nil {
			return err
		}
		cur.Value = cursor{After: after}
		if _, err = checkpoint.Save(ctx, p.ckpt, cur); !errors.Is(err, checkpoint.ErrConflict) {
			return err
		}
	}
	return fmt.Errorf("incremental start of %s: %w", ts.cfg.Source, checkpoint.ErrConflict)
}

func textRow(vals [][]byte) []string {
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = string(v)
	}
	return out
}
