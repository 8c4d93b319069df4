package main

import (
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sluice-dev/sluice/internal/spec"
	sluicev1 "github.com/sluice-dev/sluice/proto/sluice/v1"
)

// The load benchmarks use one table shape, an Amazon Ads style daily campaign report
// (the shape of the spCampaigns golden spec): ten typed columns, a three-column primary
// key, plus the loader's four lineage columns.
const benchProvider = "bench"

// benchSpec returns the dataset spec of the benchmark report, loaded into table.
func benchSpec(dataset, table string) (*spec.Spec, error) {
	return spec.Parse([]byte(fmt.Sprintf(`{
  "provider": %q, "dataset": %q, "version": 1, "table": %q,
  "format": {"type": "json_array"},
  "columns": [
    {"name": "profile_id", "type": "bigint", "expr": "record.attributes.profileId"},
    {"name": "campaign_id", "type": "bigint", "expr": "row.campaignId"},
    {"name": "campaign_name", "type": "text", "expr": "row.?campaignName.orValue(null)", "nullable": true},
    {"name": "date", "type": "date", "expr": "row.date"},
    {"name": "impressions", "type": "bigint", "expr": "row.impressions"},
    {"name": "clicks", "type": "bigint", "expr": "row.clicks"},
    {"name": "cost", "type": "numeric", "expr": "row.cost"},
    {"name": "purchases_7d", "type": "bigint", "expr": "row.?purchases7d.orValue(null)", "nullable": true},
    {"name": "click_through_rate", "type": "double", "expr": "int(row.impressions) > 0 ? dyn(double(row.clicks) / double(row.impressions)) : null", "nullable": true},
    {"name": "report_source", "type": "text", "expr": "record.source_key"}
  ],
  "primary_key": ["profile_id", "campaign_id", "date"],
  "rules": [{"name": "clicks_le_impressions", "expr": "out.clicks <= out.impressions", "message": "clicks exceed impressions"}]
}`, benchProvider, dataset, table)))
}

// reportRow is row i of a generated report: a pure function of i, so every phase loads the
// same data.
type reportRow struct {
	CampaignID  int64
	Name        string
	Date        time.Time
	Impressions int64
	Clicks      int64
	Cost        string
	Purchases   int64
}

var reportDay = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func genRow(i int64) reportRow {
	imp := 100 + i*7919%50000
	return reportRow{
		CampaignID:  100000000000 + i,
		Name:        "Campaign " + strconv.FormatInt(i, 10) + " - Brand Exact",
		Date:        reportDay.AddDate(0, 0, int(i%28)),
		Impressions: imp,
		Clicks:      imp * (i % 13) / 1000,
		Cost:        strconv.FormatInt(i*37%100000/100, 10) + "." + fmt.Sprintf("%02d", i*37%100),
		Purchases:   i % 5,
	}
}

// appendJSON appends row i as the provider would send it.
func appendJSON(b []byte, i int64) []byte {
	r := genRow(i)
	b = append(b, `{"campaignId":`...)
	b = strconv.AppendInt(b, r.CampaignID, 10)
	b = append(b, `,"campaignName":"`...)
	b = append(b, r.Name...)
	b = append(b, `","date":"`...)
	b = r.Date.AppendFormat(b, "2006-01-02")
	b = append(b, `","impressions":`...)
	b = strconv.AppendInt(b, r.Impressions, 10)
	b = append(b, `,"clicks":`...)
	b = strconv.AppendInt(b, r.Clicks, 10)
	b = append(b, `,"cost":`...)
	b = append(b, r.Cost...)
	b = append(b, `,"purchases7d":`...)
	b = strconv.AppendInt(b, r.Purchases, 10)
	return append(b, '}')
}

// jsonReport returns rows [first, first+n) as one JSON array payload.
func jsonReport(first, n int64) []byte {
	b := make([]byte, 0, n*150)
	b = append(b, '[')
	for i := first; i < first+n; i++ {
		if i > first {
			b = append(b, ",\n"...)
		}
		b = appendJSON(b, i)
	}
	return append(b, ']')
}

// reportStream generates a JSON array report of at least size bytes without holding it.
type reportStream struct {
	size, written int64
	next          int64
	buf           []byte
	done          bool
}

func newReportStream(size int64) *reportStream {
	return &reportStream{size: size, buf: []byte{'['}}
}

// Rows is the number of rows generated so far (all of them once Read returned io.EOF).
func (s *reportStream) Rows() int64 { return s.next }

func (s *reportStream) Read(p []byte) (int, error) {
	for len(s.buf) < len(p) && !s.done {
		if s.written+int64(len(s.buf)) >= s.size {
			s.buf = append(s.buf, ']')
			s.done = true
			break
		}
		if s.next > 0 {
			s.buf = append(s.buf, ",\n"...)
		}
		s.buf = appendJSON(s.buf, s.next)
		s.next++
	}
	if len(s.buf) == 0 {
		return 0, io.EOF
	}
	n := copy(p, s.buf)
	s.written += int64(n)
	s.buf = s.buf[:copy(s.buf, s.buf[n:])]
	return n, nil
}

func profileOf(record int64) int64 { return 1000 + record%50 }

func sourceKey(record int64) string {
	return "profile=" + strconv.FormatInt(profileOf(record), 10) + "/record=" + strconv.FormatInt(record, 10)
}

// ctr is the click-through rate the spec computes.
func ctr(r reportRow) any {
	if r.Impressions == 0 {
		return nil
	}
	return float64(r.Clicks) / float64(r.Impressions)
}

// wireRow is row i of record as the transformer publishes it.
func wireRow(record, i, index int64) *sluicev1.Row {
	r := genRow(i)
	ctrv := &sluicev1.Value{Kind: &sluicev1.Value_Null{Null: true}}
	if c, ok := ctr(r).(float64); ok {
		ctrv = &sluicev1.Value{Kind: &sluicev1.Value_Float{Float: c}}
	}
	i64 := func(n int64) *sluicev1.Value { return &sluicev1.Value{Kind: &sluicev1.Value_Int{Int: n}} }
	str := func(s string) *sluicev1.Value { return &sluicev1.Value{Kind: &sluicev1.Value_String_{String_: s}} }
	return &sluicev1.Row{Index: index, Values: []*sluicev1.Value{
		i64(profileOf(record)), i64(r.CampaignID), str(r.Name),
		{Kind: &sluicev1.Value_Timestamp{Timestamp: timestamppb.New(r.Date)}},
		i64(r.Impressions), i64(r.Clicks),
		{Kind: &sluicev1.Value_Decimal{Decimal: r.Cost}},
		i64(r.Purchases), ctrv, str(sourceKey(record)),
	}}
}

// copyRow is row i of record with lineage, as the ceiling hands it to pgx: values already
// converted, so the ceiling measures only encoding, COPY and the upsert.
func copyRow(record, i int64, recordID string, extracted, loaded time.Time) ([]any, error) {
	r := genRow(i)
	var cost pgtype.Numeric
	if err := cost.Scan(r.Cost); err != nil {
		return nil, err
	}
	return []any{profileOf(record), r.CampaignID, r.Name, r.Date, r.Impressions, r.Clicks, cost, r.Purchases, ctr(r), sourceKey(record),
		recordID, "4bf92f3577b34da6a3ce929d0e0e4736", extracted, loaded}, nil
}
