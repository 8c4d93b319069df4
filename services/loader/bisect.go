package main

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/sluice-dev/sluice/internal/pgload"
)

// load upserts the rows of items in one transaction. When the database refuses the data
// (a permanent error), it bisects: first over messages, then over the rows of a single
// message, until each bad row is alone; bad rows go to the DLQ with the database's reason,
// every other row is loaded. A transient error fails the whole group, to be retried.
func (l *loader) load(ctx context.Context, t pgload.Table, items []*item) error {
	var rows []pgload.Row
	for _, it := range items {
		rows = append(rows, it.rows...)
	}
	n, err := l.pg.Upsert(ctx, t, rows)
	if err == nil {
		l.rows.Add(ctx, n, metric.WithAttributes(attribute.String("table", t.Name)))
		return nil
	}
	if !pgload.IsPermanent(err) {
		return err
	}
	if len(items) > 1 {
		mid := len(items) / 2
		if err := l.load(ctx, t, items[:mid]); err != nil {
			return err
		}
		return l.load(ctx, t, items[mid:])
	}
	return l.loadRows(ctx, t, items[0], items[0].rows, err)
}

func (l *loader) loadRows(ctx context.Context, t pgload.Table, it *item, rows []pgload.Row, cause error) error {
	if len(rows) == 1 {
		idx := l.rowIndex(it, rows[0])
		l.rejected.Add(ctx, 1, metric.WithAttributes(attribute.String("table", t.Name)))
		return l.dlq.Row(it.ctx, it.msg, idx, fmt.Sprintf("load into %s: %v", t.Name, cause), nil)
	}
	mid := len(rows) / 2
	for _, half := range [][]pgload.Row{rows[:mid], rows[mid:]} {
		n, err := l.pg.Upsert(ctx, t, half)
		switch {
		case err == nil:
			l.rows.Add(ctx, n, metric.WithAttributes(attribute.String("table", t.Name)))
		case pgload.IsPermanent(err):
			if err := l.loadRows(ctx, t, it, half, err); err != nil {
				return err
			}
		default:
			return err
		}
	}
	return nil
}

// rowIndex finds the source row index of r inside its message.
func (l *loader) rowIndex(it *item, r pgload.Row) int64 {
	for i := range it.rows {
		if &it.rows[i].Values[0] == &r.Values[0] {
			return it.batch.GetRows()[i].GetIndex()
		}
	}
	return -1
}
