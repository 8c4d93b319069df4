package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// loaderConns is the loader's --postgres-max-conns in every phase, and so the number of
// connections the physical limit is measured with: 4, the loader's default, or
// BENCH_LOADER_CONNS (to find what a database absorbs best: see the README).
var loaderConns = func() int {
	if n, err := strconv.Atoi(os.Getenv("BENCH_LOADER_CONNS")); err == nil && n > 0 {
		return n
	}
	return 4
}()

// limitColumns are the columns the loader copies (data, then lineage), with their types.
var limitColumns = []struct {
	name string
	oid  uint32
}{
	{"profile_id", pgtype.Int8OID}, {"campaign_id", pgtype.Int8OID}, {"campaign_name", pgtype.TextOID},
	{"date", pgtype.DateOID}, {"impressions", pgtype.Int8OID}, {"clicks", pgtype.Int8OID},
	{"cost", pgtype.NumericOID}, {"purchases_7d", pgtype.Int8OID}, {"click_through_rate", pgtype.Float8OID},
	{"report_source", pgtype.TextOID}, {"_record_id", pgtype.TextOID}, {"_trace_id", pgtype.TextOID},
	{"_extracted_at", pgtype.TimestamptzOID}, {"_loaded_at", pgtype.TimestamptzOID}, {"_data_version", pgtype.Int8OID},
}

// copyLimitRound measures the physical limit of ingest: a plain binary COPY … FROM STDIN
// of the load bench's rows into an empty table with the same primary key, no conflict
// handling, over loaderConns connections at once, each COPY of up to sc.ceilingTx rows its own
// transaction (smaller at small scale, so every connection gets several). The rows are encoded before the clock starts, so only the database (and the
// socket) is timed: no sluice code can load faster than this.
func (b *loadBench) copyLimitRound(ctx context.Context, round int) (float64, error) {
	sp, err := b.table(ctx, fmt.Sprintf("limit%d", round))
	if err != nil {
		return 0, err
	}
	if err := b.createTable(ctx, sp); err != nil {
		return 0, err
	}
	chunks, err := b.encodeLimitRows()
	if err != nil {
		return 0, err
	}
	names := make([]string, len(limitColumns))
	for i, c := range limitColumns {
		names[i] = pgx.Identifier{c.name}.Sanitize()
	}
	copySQL := fmt.Sprintf("COPY %s (%s) FROM STDIN WITH (FORMAT binary)", pgx.Identifier{sp.Table}.Sanitize(), strings.Join(names, ", "))
	// Connections of their own, opened before the clock starts (the pool is smaller).
	conns := make([]*pgx.Conn, loaderConns)
	for i := range conns {
		c, err := pgx.Connect(ctx, b.p.infra.PostgresURL)
		if err != nil {
			return 0, err
		}
		defer c.Close(context.WithoutCancel(ctx))
		conns[i] = c
	}
	work := make(chan []byte, len(chunks))
	for _, c := range chunks {
		work <- c
	}
	close(work)
	var wg sync.WaitGroup
	errs := make([]error, len(conns))
	start := time.Now()
	for i, conn := range conns {
		wg.Go(func() {
			for chunk := range work {
				if _, err := conn.PgConn().CopyFrom(ctx, bytes.NewReader(chunk), copySQL); err != nil {
					errs[i] = err
					return
				}
			}
		})
	}
	wg.Wait()
	spent := time.Since(start)
	for _, err := range errs {
		if err != nil {
			return 0, fmt.Errorf("copy: %w", err)
		}
	}
	if n, err := b.count(ctx, sp.Table); err != nil || n != b.sc.rows {
		return 0, fmt.Errorf("limit table holds %d rows, want %d (%v)", n, b.sc.rows, err)
	}
	return float64(b.sc.rows) / spent.Seconds(), nil
}

// encodeLimitRows encodes every row of the bench as binary COPY bodies.
func (b *loadBench) encodeLimitRows() ([][]byte, error) {
	m := pgtype.NewMap()
	extracted := time.Now().UTC()
	var chunks [][]byte
	per := min(b.sc.ceilingTx, b.sc.rows/int64(4*loaderConns))
	for first := int64(0); first < b.sc.rows; first += per {
		buf := []byte("PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00")
		for i := first; i < min(first+per, b.sc.rows); i++ {
			row, err := copyRow(i/b.sc.rowsPerRecord, i, fmt.Sprintf("rec%08d", i/b.sc.rowsPerRecord), extracted, extracted)
			if err != nil {
				return nil, err
			}
			row = append(row, nil) // _data_version: the bench's rows have none
			buf = binary.BigEndian.AppendUint16(buf, uint16(len(row)))
			for j, v := range row {
				lenAt := len(buf)
				buf = append(buf, 0, 0, 0, 0)
				out, err := m.Encode(limitColumns[j].oid, pgtype.BinaryFormatCode, v, buf)
				if err != nil {
					return nil, fmt.Errorf("encode %s: %w", limitColumns[j].name, err)
				}
				if out == nil { // NULL
					binary.BigEndian.PutUint32(buf[lenAt:], 0xffffffff)
					continue
				}
				buf = out
				binary.BigEndian.PutUint32(buf[lenAt:], uint32(len(buf)-lenAt-4))
			}
		}
		chunks = append(chunks, append(buf, 0xff, 0xff))
	}
	return chunks, nil
}
