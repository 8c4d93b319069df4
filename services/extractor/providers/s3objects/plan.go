package s3objects

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sluice-dev/sluice/internal/spec"
	"github.com/sluice-dev/sluice/services/extractor/provider"
	"github.com/sluice-dev/sluice/services/extractor/provider/checkpoint"
	"github.com/sluice-dev/sluice/services/extractor/providers/s3objects/transfer"
)

// listed is an object found by listing or named by an event.
type listed struct {
	transfer.Object
	Modified time.Time
}

// objectParams are the params of an ingest task.
type objectParams struct {
	Dataset  string          `json:"dataset"`
	Object   transfer.Object `json:"object"`
	Modified time.Time       `json:"modified"`
}

// copyParams are the params of a copy task.
type copyParams struct {
	Object transfer.Object `json:"object"`
	DstKey string          `json:"dst_key"`
	// Reason is why it is copied: new, source changed, target differs, resume.
	Reason string `json:"reason"`
}

// Plan lists the source prefix, or takes the objects an S3 event notification names,
// and plans a task per object not seen yet (ingest) or not yet at the target (transfer).
func (p *s3objects) Plan(ctx context.Context, t provider.Trigger) ([]provider.Task, error) {
	objs, fromEvent, err := p.discover(ctx, t)
	if err != nil {
		return nil, err
	}
	if p.cfg.Target != nil {
		return p.planTransfer(ctx, t, objs, fromEvent)
	}
	var tasks []provider.Task
	for _, o := range objs {
		sp := p.datasetOf(o.Key)
		if sp == nil {
			continue
		}
		seen, err := checkpoint.Load[Seen](ctx, p.ckpt, p.ckpt.Key(seenKey, objectHash(p.cfg.Source.Bucket, o.Key)))
		if err != nil {
			return nil, err
		}
		if seen.Found && seen.Value.ETag == o.ETag {
			continue // ingested already, unchanged since
		}
		task, err := provider.NewTask(kindObject, sp.Dataset+"/"+o.Key+"@"+strings.Trim(o.ETag, `"`), objectParams{Dataset: sp.Dataset, Object: o.Object, Modified: o.Modified})
		if err != nil {
			return nil, err
		}
		tasks = append(tasks, task)
	}
	return tasks, nil
}

// datasetOf returns the spec of the dataset whose prefix is the longest that key has.
func (p *s3objects) datasetOf(key string) *spec.Spec {
	var best *prefixed
	for i := range p.byPrefix {
		b := &p.byPrefix[i]
		if strings.HasPrefix(key, b.prefix) && (best == nil || len(b.prefix) > len(best.prefix)) {
			best = b
		}
	}
	if best == nil {
		return nil
	}
	return best.spec
}

// discover returns the objects of a trigger: those an S3 event notification in its body
// names (fromEvent), else all objects under the source prefix, sorted by key.
func (p *s3objects) discover(ctx context.Context, t provider.Trigger) ([]listed, bool, error) {
	if len(t.Body) > 0 {
		objs, ok, err := p.fromNotification(t.Body)
		if err != nil {
			return nil, true, fmt.Errorf("%w: %v", provider.ErrPermanent, err)
		}
		if ok {
			return objs, true, nil
		}
	}
	objs, err := list(ctx, p.src, p.cfg.Source.Bucket, p.cfg.Source.Prefix)
	return objs, false, err
}

// list pages through ListObjectsV2 under prefix.
func list(ctx context.Context, c *s3.Client, bucket, prefix string) ([]listed, error) {
	var out []listed
	pages := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list s3://%s/%s: %w", bucket, prefix, err)
		}
		for _, o := range page.Contents {
			out = append(out, listed{Object: transfer.Object{Key: aws.ToString(o.Key), Size: aws.ToInt64(o.Size), ETag: strings.Trim(aws.ToString(o.ETag), `"`)}, Modified: aws.ToTime(o.LastModified)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// notification is the body S3 sends for event notifications (the fields used here).
type notification struct {
	Records []struct {
		EventName string    `json:"eventName"`
		EventTime time.Time `json:"eventTime"`
		S3        struct {
			Bucket struct {
				Name string `json:"name"`
			} `json:"bucket"`
			Object struct {
				Key       string `json:"key"`
				Size      int64  `json:"size"`
				ETag      string `json:"eTag"`
				VersionID string `json:"versionId"`
			} `json:"object"`
		} `json:"s3"`
	} `json:"Records"`
}

// fromNotification returns the created objects an S3 event notification names in the
// source bucket under its prefix; ok is false when the body is not a notification.
func (p *s3objects) fromNotification(body json.RawMessage) ([]listed, bool, error) {
	var n notification
	// A body that is not a notification (a sluice event) plans by listing.
	if err := json.Unmarshal(body, &n); err != nil || n.Records == nil {
		return nil, false, nil
	}
	var out []listed
	for i, r := range n.Records {
		if !strings.HasPrefix(r.EventName, "ObjectCreated:") {
			continue
		}
		if r.S3.Bucket.Name != p.cfg.Source.Bucket {
			continue
		}
		// S3 sends keys URL-encoded, spaces as '+'.
		key, err := url.QueryUnescape(r.S3.Object.Key)
		if err != nil {
			return nil, true, fmt.Errorf("S3 notification record %d: key %q: %v", i, r.S3.Object.Key, err)
		}
		if r.S3.Object.ETag == "" {
			return nil, true, fmt.Errorf("S3 notification record %d (%s): no eTag", i, key)
		}
		if !strings.HasPrefix(key, p.cfg.Source.Prefix) {
			continue
		}
		out = append(out, listed{Object: transfer.Object{Key: key, Size: r.S3.Object.Size, ETag: strings.Trim(r.S3.Object.ETag, `"`), VersionID: r.S3.Object.VersionID}, Modified: r.EventTime})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, true, nil
}
