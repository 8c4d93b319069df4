package s3objects

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sluice-dev/sluice/internal/blob"
	"github.com/sluice-dev/sluice/services/extractor/provider"
	"github.com/sluice-dev/sluice/services/extractor/provider/checkpoint"
	"github.com/sluice-dev/sluice/services/extractor/providers/s3objects/transfer"
)

// Decisions of a transfer plan.
const (
	DecideCopy   = "copy"
	DecideRecopy = "recopy"
	DecideSkip   = "skip"
)

// Decision is what a transfer plan does with one object, and why.
type Decision struct {
	Key    string `json:"key"`
	Action string `json:"action"`
	Reason string `json:"reason"`
}

// PlanSummary is the listing of the last transfer plan, kept in the checkpoint store for
// `sluice status`: counts, and the first objects of each action.
type PlanSummary struct {
	RunID   string                `json:"run_id"`
	At      time.Time             `json:"at"`
	Listed  int                   `json:"listed"`
	Counts  map[string]int        `json:"counts"`
	Samples map[string][]Decision `json:"samples"`
}

// maxSamples bounds the objects of each action a PlanSummary names.
const maxSamples = 20

// decide says what to do with object o whose copy would be dstKey, given the journal of
// an earlier copy (st) and the target object if present.
func decide(o transfer.Object, st checkpoint.Cursor[transfer.State], tgt *transfer.Object) Decision {
	d := Decision{Key: o.Key}
	prev := st.Value
	switch {
	case st.Found && prev.Done && prev.Object.ETag == o.ETag && tgt != nil && tgt.Size == o.Size && tgt.ETag == prev.DstETag:
		d.Action, d.Reason = DecideSkip, "copied earlier, unchanged since"
	case tgt != nil && tgt.Size == o.Size && tgt.ETag == o.ETag:
		d.Action, d.Reason = DecideSkip, "present at the target with the same ETag and size"
	case st.Found && prev.Object.ETag != o.ETag:
		d.Action, d.Reason = DecideRecopy, fmt.Sprintf("source ETag changed from %s to %s", prev.Object.ETag, o.ETag)
	case st.Found && !prev.Done && prev.UploadID != "":
		d.Action, d.Reason = DecideCopy, fmt.Sprintf("resume: %d of %d parts uploaded", prev.PartsDone, prev.Parts)
	case tgt != nil:
		d.Action, d.Reason = DecideRecopy, fmt.Sprintf("target differs (%d bytes, ETag %s; source %d bytes, ETag %s)", tgt.Size, tgt.ETag, o.Size, o.ETag)
	default:
		d.Action, d.Reason = DecideCopy, "new"
	}
	return d
}

func (p *s3objects) dstKey(srcKey string) string {
	return p.cfg.Target.Prefix + strings.TrimPrefix(srcKey, p.cfg.Source.Prefix)
}

func (p *s3objects) planTransfer(ctx context.Context, t provider.Trigger, objs []listed, fromEvent bool) ([]provider.Task, error) {
	// A listing compares with one listing of the target; an event's few objects with a
	// head each.
	var targets map[string]transfer.Object
	if !fromEvent {
		ls, err := list(ctx, p.dst, p.cfg.Target.Bucket, p.cfg.Target.Prefix)
		if err != nil {
			return nil, err
		}
		targets = make(map[string]transfer.Object, len(ls))
		for _, o := range ls {
			targets[o.Key] = o.Object
		}
	}
	sum := PlanSummary{RunID: t.RunID, At: time.Now().UTC(), Listed: len(objs), Counts: map[string]int{}, Samples: map[string][]Decision{}}
	var tasks []provider.Task
	for _, o := range objs {
		dk := p.dstKey(o.Key)
		st, err := checkpoint.Load[transfer.State](ctx, p.ckpt, p.journal(p.cfg.Target.Bucket, dk).key)
		if err != nil {
			return nil, err
		}
		var tgt *transfer.Object
		if fromEvent {
			if tgt, err = p.head(ctx, dk); err != nil {
				return nil, err
			}
		} else if v, ok := targets[dk]; ok {
			tgt = &v
		}
		d := decide(o.Object, st, tgt)
		sum.Counts[d.Action]++
		if len(sum.Samples[d.Action]) < maxSamples {
			sum.Samples[d.Action] = append(sum.Samples[d.Action], d)
		}
		if d.Action == DecideSkip {
			p.log.DebugContext(ctx, "transfer skips", "key", o.Key, "reason", d.Reason)
			continue
		}
		p.log.InfoContext(ctx, "transfer "+d.Action, "key", o.Key, "dst_key", dk, "size", o.Size, "reason", d.Reason)
		task, err := provider.NewTask(kindCopy, "copy/"+dk+"@"+o.ETag, copyParams{Object: o.Object, DstKey: dk, Reason: d.Reason})
		if err != nil {
			return nil, err
		}
		tasks = append(tasks, task)
	}
	p.log.InfoContext(ctx, "transfer planned", "run_id", t.RunID, "listed", len(objs), "copy", sum.Counts[DecideCopy], "recopy", sum.Counts[DecideRecopy], "skip", sum.Counts[DecideSkip])
	p.saveSummary(ctx, sum)
	return tasks, nil
}

// head returns the target object at key, nil when there is none.
func (p *s3objects) head(ctx context.Context, key string) (*transfer.Object, error) {
	out, err := p.dst.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(p.cfg.Target.Bucket), Key: aws.String(key)})
	if err != nil {
		if blob.IsGone(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("head s3://%s/%s: %w", p.cfg.Target.Bucket, key, err)
	}
	return &transfer.Object{Key: key, Size: aws.ToInt64(out.ContentLength), ETag: strings.Trim(aws.ToString(out.ETag), `"`)}, nil
}

// saveSummary records the plan's listing; it is for operators, so a failure to save it
// is logged, not fatal to the plan.
func (p *s3objects) saveSummary(ctx context.Context, s PlanSummary) {
	key := p.ckpt.Key(planKey)
	for range 3 {
		cur, err := checkpoint.Load[PlanSummary](ctx, p.ckpt, key)
		if err == nil {
			cur.Value = s
			if _, err = checkpoint.Save(ctx, p.ckpt, cur); err == nil {
				return
			}
		}
		if !errors.Is(err, checkpoint.ErrConflict) {
			p.log.WarnContext(ctx, "save transfer plan summary", "err", err)
			return
		}
	}
}
