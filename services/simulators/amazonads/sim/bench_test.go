package sim

import (
	"context"
	"testing"
	"time"
)

// BenchmarkWriteReport measures streaming one ad-group report of 31 days
// (1,000 ad groups a day) to a discarding writer; allocations per op stay
// small because rows are encoded into one reused buffer.
func BenchmarkWriteReport(b *testing.B) {
	cfg := DefaultConfig()
	cfg.Data.CampaignsPerProfile, cfg.Data.AdGroupsPerCampaign = 200, 5
	s, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	p, err := compile(ReportSpec{ReportTypeID: ReportSPAdGroups, Columns: []string{"campaignId", "adGroupId",
		"adGroupName", "impressions", "clicks", "cost", "purchases7d", "sales7d", "date"}})
	if err != nil {
		b.Fatal(err)
	}
	start := dayOf(time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC))
	rep := &report{id: "bench", profile: s.profiles[0], req: &validRequest{start: start, end: start + 30, plan: p}}
	b.ReportAllocs()
	for b.Loop() {
		var c countWriter
		if err := s.writeReport(context.Background(), &c, rep); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(c))
	}
}
