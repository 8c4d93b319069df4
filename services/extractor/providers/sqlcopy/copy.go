package sqlcopy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/sluice-dev/sluice/services/extractor/provider"
	"github.com/sluice-dev/sluice/services/extractor/provider/checkpoint"
)

// cursor is a range's progress in sluice-checkpoints, saved after each page is emitted.
type cursor struct {
	// After is the key (in the range's order) of the last row emitted, as text.
	After []string `json:"after,omitempty"`
	// PageRows is the page size chosen after the probe page; kept so that a page repeated
	// after a crash is the same page (same source key, same bytes, same record id).
	PageRows int   `json:"page_rows,omitempty"`
	Rows     int64 `json:"rows"`
	Pages    int64 `json:"pages"`
	// Done marks a finished partition: a redelivered task finds it and returns.
	Done bool `json:"done,omitempty"`
}

// job is one range to copy.
type job struct {
	ts         *tableState
	q          query
	checkpoint string
	// prefix starts the source key of every page ("p00003", "incremental").
	prefix string
	lo, hi []string
	// open ranges (incremental) are never done: the next pass continues from the cursor.
	open bool
}

// copyRange copies a range page by page. Each page is one keyset query, streamed into a
// zstd NDJSON buffer of at most the page budget, emitted as one raw record, and then
// recorded in the range's cursor: a crash repeats at most the page in flight, which has
// the same source key and bytes (its key range and size come from the cursor) and so
// dedupes by record id.
func (p *sqlcopy) copyRange(ctx context.Context, emit provider.Emitter, j job) error {
	cur, err := checkpoint.Load[cursor](ctx, p.ckpt, j.checkpoint)
	if err != nil {
		return err
	}
	if cur.Value.Done {
		return nil
	}
	after := cur.Value.After
	if after == nil {
		after = j.lo
	}
	keyIdx := j.ts.orderIndex(j.q)
	pg := newPage(j.ts.cols, j.ts.version)
	for {
		limit := cur.Value.PageRows
		if limit == 0 {
			limit = p.cfg.Page.ProbeRows
		}
		select {
		case p.slots <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		res, err := p.fetch(ctx, j, pg, keyIdx, after, limit)
		if err != nil {
			<-p.slots
			return err
		}
		if pg.Rows > 0 {
			err = p.emitPage(ctx, emit, j, pg, after)
		}
		<-p.slots
		if err != nil {
			return err
		}
		if pg.Rows == 0 {
			if j.open {
				return nil // nothing new since the cursor
			}
			cur.Value.Done = true
		} else {
			if cur.Value.PageRows == 0 {
				cur.Value.PageRows = pageRows(p.budget, pg.Bytes, pg.Rows, p.cfg.Page.MaxRows)
			}
			if res.limit < limit {
				cur.Value.PageRows = res.limit // statement_timeout: smaller pages from now on
			}
			cur.Value.After, after = res.last, res.last
			cur.Value.Rows += int64(pg.Rows)
			p.rows.Add(ctx, int64(pg.Rows), metric.WithAttributes(attribute.String("dataset", j.ts.cfg.Dataset)))
			cur.Value.Pages++
			cur.Value.Done = res.exhausted && !j.open
		}
		if cur, err = checkpoint.Save(ctx, p.ckpt, cur); err != nil {
			return err
		}
		if pg.Rows == 0 || res.exhausted {
			p.log.InfoContext(ctx, "range copied", "dataset", j.ts.cfg.Dataset, "range", j.prefix, "rows", cur.Value.Rows, "pages", cur.Value.Pages)
			return nil
		}
	}
}

// fetched is what one page query returned besides its rows.
type fetched struct {
	// last is the key of the page's last row.
	last []string
	// exhausted: the query returned fewer rows than its limit, so the range has no more.
	exhausted bool
	// limit is the limit the page was read with (halved by statement timeouts).
	limit int
}

// fetch reads one page into pg, retrying a query the source killed (with half the rows
// when statement_timeout killed it).
func (p *sqlcopy) fetch(ctx context.Context, j job, pg *page, keyIdx []int, after []string, limit int) (fetched, error) {
	res := fetched{limit: limit}
	keyBuf := make([][]byte, len(keyIdx))
	err := p.query(ctx, func(ctx context.Context, conn *pgx.Conn) error {
		pg.reset()
		sql, args := j.q.page(after, j.hi, res.limit)
		rows, err := conn.Query(ctx, sql, append([]any{pgx.QueryResultFormats{pgx.TextFormatCode}}, args...)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		cut := false
		for rows.Next() {
			vals := rows.RawValues()
			if err := pg.add(vals); err != nil {
				return fmt.Errorf("%w: %s: %v", provider.ErrPermanent, j.ts.cfg.Source, err)
			}
			for i, k := range keyIdx {
				if vals[k] == nil {
					return fmt.Errorf("%w: %s: key column %s is NULL: the key must be unique and not null", provider.ErrPermanent, j.ts.cfg.Source, j.q.order[i].name)
				}
				keyBuf[i] = append(keyBuf[i][:0], vals[k]...)
			}
			if pg.Bytes >= p.budget {
				cut = true // wider rows than the probe saw: end the page at the budget
				break
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		res.exhausted = !cut && pg.Rows < res.limit
		return nil
	}, func(err error) {
		if statementTimeout(err) && res.limit > 1 {
			res.limit /= 2
		}
	})
	if err != nil {
		return res, fmt.Errorf("%s page after %s: %w", j.ts.cfg.Source, keyText(after), err)
	}
	if pg.Rows > 0 {
		res.last = make([]string, len(keyBuf))
		for i, k := range keyBuf {
			res.last[i] = string(k)
		}
	}
	return res, nil
}

func (p *sqlcopy) emitPage(ctx context.Context, emit provider.Emitter, j job, pg *page, after []string) error {
	body, err := pg.finish()
	if err != nil {
		return fmt.Errorf("compress page: %w", err)
	}
	return emit.Emit(ctx, provider.Raw{
		Dataset: j.ts.cfg.Dataset,
		// The range and the page's start key name the page: a page repeated after a crash
		// has the same source key (and, the data unchanged, the same record id).
		SourceKey:       j.prefix + "/after=" + keyText(after),
		ContentType:     "application/x-ndjson",
		ContentEncoding: "zstd",
		Body:            bytes.NewReader(body),
		Attributes:      map[string]string{"source": j.ts.cfg.Source, "rows": strconv.Itoa(pg.Rows)},
		DataVersion:     pg.MaxVersion,
	})
}

// keyText renders a key for source keys and messages: a JSON array of its text values,
// or "start" for the beginning of a range.
func keyText(k []string) string {
	if len(k) == 0 {
		return "start"
	}
	b, _ := json.Marshal(k) // strings only: cannot fail
	return string(b)
}
