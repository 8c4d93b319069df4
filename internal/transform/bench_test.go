package transform_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/rowsource"
	"github.com/sluice-dev/sluice/internal/spec"
	"github.com/sluice-dev/sluice/internal/transform"
	sluicev1 "github.com/sluice-dev/sluice/proto/sluice/v1"
)

// BenchmarkTransform measures rows per second through rowsource and transform, end to end
// from payload bytes to typed rows, for the Amazon Ads spCampaigns spec (JSON array, two
// CEL columns, two rules) and a CSV spec.
func BenchmarkTransform(b *testing.B) {
	const rows = 10_000
	amazon, err := spec.Parse(mustRead(b, filepath.Join("testdata", "amazonads_sp_campaigns", "spec.json")))
	if err != nil {
		b.Fatal(err)
	}
	var js bytes.Buffer
	js.WriteByte('[')
	for i := range rows {
		if i > 0 {
			js.WriteByte(',')
		}
		fmt.Fprintf(&js, `{"campaignId":%d,"campaignName":"Campaign %d","date":"2022-07-%02d","impressions":%d,"clicks":%d,"cost":%d.%02d,"purchases7d":%d}`,
			158410630682987+i%500, i%500, 1+i%28, 1000+i, i%100, i%50, i%100, i%7)
	}
	js.WriteByte(']')

	benchRun(b, "amazonads_json", amazon, js.Bytes(), rows)
	benchRun(b, "csv", csvSpec(b).Spec(), []byte(csvPayload(rows)), rows)
	benchRun(b, "wide_ndjson", wideSpec(b), wideNDJSON(rows/4), rows/4)
}

// wideSpec is a table copied from a database: direct columns, three of them jsonb
// (a list, a small object and a document of up to a hundred objects).
func wideSpec(b *testing.B) *spec.Spec {
	s, err := spec.Parse([]byte(`{"provider": "p", "dataset": "wide", "version": 1, "table": "wide",
  "format": {"type": "ndjson"},
  "columns": [
    {"name": "id", "type": "bigint", "expr": "row.id"},
    {"name": "name", "type": "text", "expr": "row.name"},
    {"name": "price", "type": "numeric", "expr": "row.price", "nullable": true},
    {"name": "tags", "type": "jsonb", "expr": "row.tags"},
    {"name": "meta", "type": "jsonb", "expr": "row.meta"},
    {"name": "doc", "type": "jsonb", "expr": "row.doc"},
    {"name": "updated_at", "type": "timestamptz", "expr": "row.updated_at"}
  ],
  "primary_key": ["id"]}`))
	if err != nil {
		b.Fatal(err)
	}
	return s
}

func wideNDJSON(rows int) []byte {
	var buf bytes.Buffer
	for i := range rows {
		fmt.Fprintf(&buf, `{"id":%d,"name":"item %d","price":%d.%04d,"tags":["t%d","u%d"],"meta":{"g":%d,"nested":[%d,"x",null],"f":%d.5},"doc":{"g":%d,"items":[`,
			i, i, i%1000, i%10000, i%7, i%11, i, i, i/3, i)
		for j := range 20 + i%80 {
			if j > 0 {
				buf.WriteByte(',')
			}
			fmt.Fprintf(&buf, `{"i":%d,"s":"%08x%08x"}`, j, i*j, i^j)
		}
		fmt.Fprintf(&buf, "]},\"updated_at\":\"2024-01-%02dT10:00:00.5Z\"}\n", 1+i%28)
	}
	return buf.Bytes()
}

func benchRun(b *testing.B, name string, s *spec.Spec, payload []byte, rows int) {
	b.Run(name, func(b *testing.B) {
		prog, err := spec.Compile(s)
		if err != nil {
			b.Fatal(err)
		}
		rec := spec.Record{Provider: s.Provider, Dataset: s.Dataset, SourceKey: "k", ExtractedAt: time.Now(),
			Attributes: map[string]string{"profileId": "3361203361254843"}}
		b.SetBytes(int64(len(payload)))
		b.ReportAllocs()
		for b.Loop() {
			src, err := rowsource.Open(s.Format, bytes.NewReader(payload))
			if err != nil {
				b.Fatal(err)
			}
			st, err := transform.Run(context.Background(), prog, rec, src,
				func(*sluicev1.Row) error { return nil },
				func(e transform.RowError) error { return fmt.Errorf("reject: %v", e) })
			if err != nil || st.Emitted != int64(rows) {
				b.Fatalf("err = %v, stats = %+v", err, st)
			}
		}
		b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		b.ReportMetric(0, "ns/op")
	})
}
