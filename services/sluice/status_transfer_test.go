package main

import (
	"strings"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/services/extractor/providers/s3objects"
	"github.com/sluice-dev/sluice/services/extractor/providers/s3objects/transfer"
)

func TestTransferStatus(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	copyOf := func(key string, size, done int64, parts, partsDone int, finished bool) transferCopy {
		return transferCopy{Provider: "s3objects", State: transfer.State{
			SrcBucket: "src", Object: transfer.Object{Key: key, Size: size}, DstBucket: "dst", DstKey: "b/" + key,
			Mode: transfer.ModeStream, Parts: parts, PartsDone: partsDone, BytesDone: done, Done: finished, UpdatedAt: at,
			Attempts: []transfer.Attempt{{Sent: partsDone}},
		}}
	}
	prev := transferSample{Copies: []transferCopy{copyOf("big", 100<<20, 20<<20, 10, 2, false)}}
	cur := transferSample{
		Copies: []transferCopy{copyOf("big", 100<<20, 60<<20, 10, 6, false), copyOf("small", 1000, 1000, 1, 1, true)},
		Plans:  map[string]s3objects.PlanSummary{"s3objects": {RunID: "r1", At: at, Listed: 3, Counts: map[string]int{"copy": 1, "recopy": 1, "skip": 1}}},
	}
	r := buildTransfers(&prev, cur, 2*time.Second)
	if r.Running != 1 || r.Done != 1 || r.BytesDone != 60<<20+1000 {
		t.Fatalf("report %+v: want 1 running, 1 done, %d bytes", r, 60<<20+1000)
	}
	if r.BytesPerSecond == nil || *r.BytesPerSecond != float64(40<<20+1000)/2 {
		t.Fatalf("rate %v, want %v", r.BytesPerSecond, float64(40<<20+1000)/2)
	}
	var b strings.Builder
	renderTransfers(&b, r, false)
	out := b.String()
	for _, want := range []string{"TRANSFERS: 1 running, 1 done", "s3://dst/b/big", "6/10", "60.0 MiB/100.0 MiB", "1 to copy, 1 to re-copy, 1 skipped", "running", "done"} {
		if !strings.Contains(out, want) {
			t.Errorf("transfer section lacks %q:\n%s", want, out)
		}
	}
	var empty strings.Builder
	renderTransfers(&empty, buildTransfers(nil, transferSample{}, 0), false)
	if empty.Len() != 0 {
		t.Errorf("no transfers should print nothing, got %q", empty.String())
	}
}
