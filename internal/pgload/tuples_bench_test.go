package pgload

import (
	"fmt"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sluice-dev/sluice/internal/rowbatch"
	sluicev1 "github.com/sluice-dev/sluice/proto/sluice/v1"
)

// A loader batch as the load benchmark sends it: 64 messages of 2000 rows.
const (
	benchMessages = 64
	benchRows     = 2000
)

// reportTable is the load benchmark's table (bench/load_data.go).
var reportTable = Table{Name: "report", PrimaryKey: []string{"profile_id", "campaign_id", "date"}, Columns: []Column{
	{Name: "profile_id", Type: "bigint"}, {Name: "campaign_id", Type: "bigint"}, {Name: "campaign_name", Type: "text"},
	{Name: "date", Type: "date"}, {Name: "impressions", Type: "bigint"}, {Name: "clicks", Type: "bigint"},
	{Name: "cost", Type: "numeric"}, {Name: "purchases_7d", Type: "bigint"}, {Name: "click_through_rate", Type: "double precision"},
	{Name: "report_source", Type: "text"},
}}

func reportRow(record, i int64) []*sluicev1.Value {
	imp := 100 + i*7919%50000
	clicks := imp * (i % 13) / 1000
	return []*sluicev1.Value{
		vInt(1000 + record%50), vInt(100000000000 + i), vStr("Campaign " + strconv.FormatInt(i, 10) + " - Brand Exact"),
		{Kind: &sluicev1.Value_Timestamp{Timestamp: timestamppb.New(time.Date(2026, 1, 1+int(i%28), 0, 0, 0, 0, time.UTC))}},
		vInt(imp), vInt(clicks), {Kind: &sluicev1.Value_Decimal{Decimal: fmt.Sprintf("%d.%02d", i*37%100000/100, i*37%100)}},
		vInt(i % 5), {Kind: &sluicev1.Value_Float{Float: float64(clicks) / float64(imp)}},
		vStr("profile=" + strconv.FormatInt(1000+record%50, 10) + "/record=" + strconv.FormatInt(record, 10)),
	}
}

// eventTable has a text and a numeric key and a jsonb payload: another shape, so that
// what helps the report shape is not tuned to it alone.
var eventTable = Table{Name: "event", PrimaryKey: []string{"source", "seq"}, Columns: []Column{
	{Name: "source", Type: "text"}, {Name: "seq", Type: "numeric"}, {Name: "at", Type: "timestamptz"},
	{Name: "ok", Type: "boolean"}, {Name: "n", Type: "integer"}, {Name: "payload", Type: "jsonb"},
}}

func eventRow(record, i int64) []*sluicev1.Value {
	return []*sluicev1.Value{
		vStr("source-" + strconv.FormatInt(i%97, 10)), {Kind: &sluicev1.Value_Decimal{Decimal: strconv.FormatInt(i, 10) + ".0"}},
		{Kind: &sluicev1.Value_Timestamp{Timestamp: timestamppb.New(time.Unix(1_700_000_000+i, i*1000))}},
		{Kind: &sluicev1.Value_Bool{Bool: i%2 == 0}}, vInt(i % 1000),
		{Kind: &sluicev1.Value_Json{Json: `{"k":` + strconv.FormatInt(i, 10) + `,"tag":"x"}`}},
	}
}

func vInt(n int64) *sluicev1.Value { return &sluicev1.Value{Kind: &sluicev1.Value_Int{Int: n}} }
func vStr(s string) *sluicev1.Value {
	return &sluicev1.Value{Kind: &sluicev1.Value_String_{String_: s}}
}

// benchBatches encodes the messages of one loader batch; with dup, every key comes twice
// (the second message of a pair repeats the first's rows, extracted later).
func benchBatches(b *testing.B, t Table, row func(record, i int64) []*sluicev1.Value, dup bool) []*rowbatch.Batch {
	b.Helper()
	var cols []string
	for _, c := range t.Columns {
		cols = append(cols, c.Name)
	}
	at := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	out := make([]*rowbatch.Batch, 0, benchMessages)
	for m := range int64(benchMessages) {
		record := m
		if dup {
			record = m / 2
		}
		first := record * benchRows
		rb := &sluicev1.RowBatch{Table: t.Name, Provider: "bench", Dataset: "d", SpecVersion: 1, RecordId: "record-" + strconv.FormatInt(m, 10),
			TraceId: "4bf92f3577b34da6a3ce929d0e0e4736", ExtractedAt: timestamppb.New(at.Add(time.Duration(m) * time.Second)), Columns: cols}
		for i := first; i < first+benchRows; i++ {
			rb.Rows = append(rb.Rows, &sluicev1.Row{Index: i - first, Values: row(record, i)})
		}
		data, err := proto.Marshal(rb)
		if err != nil {
			b.Fatal(err)
		}
		batch, err := rowbatch.Parse(data)
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, batch)
	}
	return out
}

// cpuTime is the CPU the process has used, GC workers included: on a shared machine it
// varies less than the wall clock.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkTuplesAppend encodes one loader batch as services/loader does (NewTuples,
// Reserve, Append of every row); the metrics are per row appended.
func BenchmarkTuplesAppend(b *testing.B) {
	cases := []struct {
		name  string
		table Table
		row   func(record, i int64) []*sluicev1.Value
		dup   bool
	}{
		{"report", reportTable, reportRow, false},
		{"report-dups", reportTable, reportRow, true},
		{"event", eventTable, eventRow, false},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			batches := benchBatches(b, c.table, c.row, c.dup)
			bind, err := c.table.Bind(batches[0].Columns)
			if err != nil {
				b.Fatal(err)
			}
			size, rows := 0, 0
			for _, rb := range batches {
				rows += len(rb.Rows)
				for _, r := range rb.Rows {
					size += len(r) + 3
				}
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			cpu0 := cpuTime(b)
			b.ResetTimer()
			for range b.N {
				ts, err := NewTuples(c.table, time.Now(), size+size/4)
				if err != nil {
					b.Fatal(err)
				}
				ts.Reserve(rows)
				for _, rb := range batches {
					for _, r := range rb.Rows {
						if _, err := ts.Append(rb, bind, r); err != nil {
							b.Fatal(err)
						}
					}
				}
				if c.dup && ts.LiveLen() != rows/2 || !c.dup && ts.LiveLen() != rows {
					b.Fatalf("%d live rows of %d", ts.LiveLen(), rows)
				}
			}
			b.StopTimer()
			cpu := cpuTime(b) - cpu0
			runtime.ReadMemStats(&after)
			n := float64(b.N) * float64(rows)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/row")
			b.ReportMetric(float64(cpu.Nanoseconds())/n, "cpu-ns/row")
			b.ReportMetric(float64(after.Mallocs-before.Mallocs)/n, "allocs/row")
			b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/n, "B/row")
			b.ReportMetric(float64(after.NumGC-before.NumGC)/float64(b.N), "gc/op")
			b.ReportMetric(0, "ns/op")
		})
	}
}
