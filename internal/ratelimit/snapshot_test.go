package ratelimit

import (
	"context"
	"testing"
	"time"
)

func TestKeyTokenRoundTrip(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"amazonads", "", "sp.campaigns", "a:b=", "x=zz", "profile 42/€", "="} {
		tok := keyToken(s)
		if got := decodeKeyToken(tok); got != s {
			t.Errorf("decodeKeyToken(keyToken(%q)) = %q via %q", s, got, tok)
		}
	}
}

func TestSnapshotReadsWhatGovernorsWrite(t *testing.T) {
	url := startServer(t)
	ns := uniqueNamespace(t) + ".with:odd chars"
	cfg := Config{Namespace: ns, Quotas: map[string]QuotaConfig{
		"report": {Limit: Limit{Rate: 50, Burst: 5}, PerKey: &Limit{Rate: 10, Burst: 2}},
	}}
	g := replicas(t, url, 1, cfg)[0]
	ctx := context.Background()
	for i := range 3 {
		p, err := g.Acquire(ctx, Request{Quota: "report", Key: "profile 1"})
		if err != nil {
			t.Fatal(err)
		}
		o := Outcome{Kind: Success}
		if i == 2 {
			o = Outcome{Kind: Throttled, RetryAfter: 10 * time.Millisecond}
		}
		if err := p.Release(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	_, js := connect(t, url)
	kv, err := js.KeyValue(ctx, DefaultBucket)
	if err != nil {
		t.Fatal(err)
	}
	snaps, err := Snapshot(ctx, kv)
	if err != nil {
		t.Fatal(err)
	}
	var got *QuotaSnapshot
	for i := range snaps {
		if snaps[i].Namespace == ns {
			got = &snaps[i]
		}
	}
	if got == nil {
		t.Fatalf("no snapshot of namespace %q in %+v", ns, snaps)
	}
	if got.Quota != "report" || got.Ceiling <= 0 || got.Ceiling > 50 || got.Rate <= 0 || got.Issued < 3 || got.Keys != 1 {
		t.Errorf("snapshot %+v: want quota report, a ceiling of at most 50 (less headroom), a rate, ≥3 issued, one key", *got)
	}
	if got.Throttled+got.KeyThrottled == 0 {
		t.Errorf("snapshot %+v: the throttle is not counted", *got)
	}
}
