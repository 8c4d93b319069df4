package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluice-dev/sluice/internal/bus"
	"github.com/sluice-dev/sluice/services/extractor/providers/s3objects"
	"github.com/sluice-dev/sluice/services/extractor/providers/s3objects/transfer"
)

// transferSample is the copies that transfer deployments journal in sluice-checkpoints
// (keys <provider>.transfer.<hash>), and their last plans (<provider>.transferplan).
type transferSample struct {
	Copies []transferCopy
	Plans  map[string]s3objects.PlanSummary
}

type transferCopy struct {
	Provider string
	State    transfer.State
}

// transferStatus is the transfer section of the report.
type transferStatus struct {
	// Running counts copies started and not finished (a crashed one until it resumes);
	// Done those finished and verified.
	Running   int   `json:"running"`
	Done      int   `json:"done"`
	BytesDone int64 `json:"bytes_done"`
	// BytesPerSecond is the change of BytesDone over the interval; null without one.
	BytesPerSecond *float64                         `json:"bytes_per_second"`
	Copies         []transferCopyStatus             `json:"copies"`
	Plans          map[string]s3objects.PlanSummary `json:"plans,omitempty"`
}

type transferCopyStatus struct {
	Provider  string    `json:"provider"`
	Source    string    `json:"source"`
	Target    string    `json:"target"`
	Mode      string    `json:"mode"`
	Size      int64     `json:"size"`
	BytesDone int64     `json:"bytes_done"`
	Parts     int       `json:"parts"`
	PartsDone int       `json:"parts_done"`
	Attempts  int       `json:"attempts"`
	Done      bool      `json:"done"`
	UpdatedAt time.Time `json:"updated_at"`
}

// readTransfers reads the transfer journals; no checkpoint bucket means no transfer.
func readTransfers(ctx context.Context, js jetstream.JetStream, only map[string]bool) (transferSample, error) {
	out := transferSample{Plans: map[string]s3objects.PlanSummary{}}
	kv, err := js.KeyValue(ctx, bus.BucketCheckpoints)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return out, nil
	}
	if err != nil {
		return out, fmt.Errorf("bucket %s: %w", bus.BucketCheckpoints, err)
	}
	keys, err := kv.ListKeysFiltered(ctx, "*.transfer.*", "*.transferplan")
	if err != nil {
		return out, fmt.Errorf("bucket %s: %w", bus.BucketCheckpoints, err)
	}
	for key := range keys.Keys() {
		provider, rest, _ := strings.Cut(key, ".")
		if only != nil && !only[provider] {
			continue
		}
		e, err := kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // deleted since listed
		}
		if err != nil {
			return out, fmt.Errorf("checkpoint %s: %w", key, err)
		}
		if rest == "transferplan" {
			var p s3objects.PlanSummary
			if json.Unmarshal(e.Value(), &p) == nil {
				out.Plans[provider] = p
			}
			continue
		}
		var st transfer.State
		if err := json.Unmarshal(e.Value(), &st); err != nil {
			return out, fmt.Errorf("checkpoint %s: %w", key, err)
		}
		out.Copies = append(out.Copies, transferCopy{Provider: provider, State: st})
	}
	sort.Slice(out.Copies, func(i, j int) bool {
		a, b := out.Copies[i].State, out.Copies[j].State
		if a.Done != b.Done {
			return !a.Done // running first
		}
		return a.UpdatedAt.After(b.UpdatedAt)
	})
	return out, nil
}

func buildTransfers(prev *transferSample, cur transferSample, dt time.Duration) transferStatus {
	r := transferStatus{Copies: []transferCopyStatus{}, Plans: cur.Plans}
	for _, c := range cur.Copies {
		st := c.State
		if st.Done {
			r.Done++
		} else {
			r.Running++
		}
		r.BytesDone += st.BytesDone
		r.Copies = append(r.Copies, transferCopyStatus{
			Provider: c.Provider, Source: "s3://" + st.SrcBucket + "/" + st.Object.Key, Target: "s3://" + st.DstBucket + "/" + st.DstKey,
			Mode: string(st.Mode), Size: st.Object.Size, BytesDone: st.BytesDone, Parts: st.Parts, PartsDone: st.PartsDone,
			Attempts: len(st.Attempts), Done: st.Done, UpdatedAt: st.UpdatedAt,
		})
	}
	if prev != nil && dt > 0 {
		var before int64
		for _, c := range prev.Copies {
			before += c.State.BytesDone
		}
		rate := float64(max(0, r.BytesDone-before)) / dt.Seconds()
		r.BytesPerSecond = &rate
	}
	return r
}

// maxTransferLines bounds the copies listed in text; running ones come first.
const maxTransferLines = 15

func renderTransfers(b *strings.Builder, t transferStatus, bars bool) {
	if len(t.Copies) == 0 && len(t.Plans) == 0 {
		return
	}
	fmt.Fprintf(b, "\nTRANSFERS: %d running, %d done, %s copied", t.Running, t.Done, formatBytes(t.BytesDone))
	if t.BytesPerSecond != nil {
		fmt.Fprintf(b, " (%s/s)", formatBytes(int64(*t.BytesPerSecond)))
	}
	b.WriteString("\n")
	providers := make([]string, 0, len(t.Plans))
	for p := range t.Plans {
		providers = append(providers, p)
	}
	sort.Strings(providers)
	for _, p := range providers {
		pl := t.Plans[p]
		fmt.Fprintf(b, "last plan of %s (run %s, %s): %d listed, %d to copy, %d to re-copy, %d skipped\n", p, pl.RunID, pl.At.Format(time.RFC3339),
			pl.Listed, pl.Counts[s3objects.DecideCopy], pl.Counts[s3objects.DecideRecopy], pl.Counts[s3objects.DecideSkip])
	}
	if len(t.Copies) == 0 {
		return
	}
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STATE\tTARGET\tMODE\tPARTS\tBYTES\tATTEMPTS\tUPDATED")
	for i, c := range t.Copies {
		if i == maxTransferLines {
			fmt.Fprintf(tw, "… %d more\n", len(t.Copies)-i)
			break
		}
		state := "done"
		if !c.Done {
			state = "running"
			if bars {
				state = bar(doneFraction(uint64(c.BytesDone), uint64(max(0, c.Size-c.BytesDone))), 12)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%s/%s\t%d\t%s\n", state, c.Target, c.Mode, c.PartsDone, c.Parts,
			formatBytes(c.BytesDone), formatBytes(c.Size), c.Attempts, c.UpdatedAt.Format(time.TimeOnly))
	}
	tw.Flush()
}

func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
