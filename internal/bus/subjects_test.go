package bus

import (
	"testing"
	"time"
)

func TestSubjects(t *testing.T) {
	t.Parallel()
	cases := []struct{ got, want string }{
		{TaskSubject("amazonads"), "sluice.task.amazonads"},
		{RawSubject("amazonads", "spCampaigns"), "sluice.raw.amazonads.spCampaigns"},
		{StagedSubject("amazonads", "spCampaigns"), "sluice.staged.amazonads.spCampaigns"},
		{RowsSubject("amazonads_sp_campaigns"), "sluice.rows.amazonads_sp_campaigns"},
		{DLQSubject("load", "amazonads", "spCampaigns"), "sluice.dlq.load.amazonads.spCampaigns"},
		{DLQSubject("load", "", ""), "sluice.dlq.load.unknown.unknown"},
		{EventSubject("amazonads", "profile.changed"), "sluice.event.amazonads.profile.changed"},
		{EventFilter("amazonads"), "sluice.event.amazonads.>"},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("got %s, want %s", c.got, c.want)
		}
	}
	p, d, ok := ProviderDataset("sluice.staged.demo.items")
	if !ok || p != "demo" || d != "items" {
		t.Errorf("ProviderDataset = %s %s %v", p, d, ok)
	}
	if _, _, ok := ProviderDataset("sluice.rows.demo_items"); ok {
		t.Error("a rows subject has no provider/dataset tokens")
	}
}

func TestRetryDelayGrowsAndCaps(t *testing.T) {
	t.Parallel()
	cases := []struct {
		n    uint64
		want time.Duration
	}{{0, time.Second}, {1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second}, {6, 32 * time.Second}, {7, time.Minute}, {8, time.Minute}, {100, time.Minute}}
	for _, c := range cases {
		if got := RetryDelay(c.n); got != c.want {
			t.Errorf("RetryDelay(%d) = %v, want %v", c.n, got, c.want)
		}
	}
}

func TestKVKey(t *testing.T) {
	t.Parallel()
	cases := []struct {
		parts []string
		want  string
	}{
		{[]string{"amazonads", "run-1", "profile=42"}, "amazonads.run-1.profile=42"},
		{[]string{"p", "2024-06-01..2024-07-01", ""}, "p.2024-06-01__2024-07-01._"},
		{[]string{"p", "a b/c*>"}, "p.a_b_c__"},
	}
	for _, c := range cases {
		if got := KVKey(c.parts...); got != c.want {
			t.Errorf("KVKey(%q) = %q, want %q", c.parts, got, c.want)
		}
	}
}
