package s3objects

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sluice-dev/sluice/internal/blob"
	"github.com/sluice-dev/sluice/services/extractor/provider"
	"github.com/sluice-dev/sluice/services/extractor/provider/checkpoint"
	"github.com/sluice-dev/sluice/services/extractor/providers/s3objects/transfer"
)

// Run ingests or copies one object.
func (p *s3objects) Run(ctx context.Context, t provider.Task, emit provider.Emitter) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	switch t.Kind {
	case kindObject:
		var prm objectParams
		if err := t.DecodeParams(&prm); err != nil {
			return fmt.Errorf("%w: %v", provider.ErrPermanent, err)
		}
		return p.ingest(ctx, prm, emit)
	case kindCopy:
		if p.copier == nil {
			return fmt.Errorf("%w: task %s: copy task, but this deployment has no target", provider.ErrPermanent, t.Key)
		}
		var prm copyParams
		if err := t.DecodeParams(&prm); err != nil {
			return fmt.Errorf("%w: %v", provider.ErrPermanent, err)
		}
		return p.copy(ctx, prm, emit)
	}
	return fmt.Errorf("%w: task %s: unknown kind %q", provider.ErrPermanent, t.Key, t.Kind)
}

// ingest emits the object as a record that points at it: no byte is read here, the
// transformer streams it from the source bucket.
func (p *s3objects) ingest(ctx context.Context, prm objectParams, emit provider.Emitter) error {
	d := p.datasetByName(prm.Dataset)
	if d == nil {
		return fmt.Errorf("%w: object %s: dataset %q is not configured", provider.ErrPermanent, prm.Object.Key, prm.Dataset)
	}
	o := prm.Object
	in := &s3.HeadObjectInput{Bucket: aws.String(p.cfg.Source.Bucket), Key: aws.String(o.Key)}
	if o.VersionID != "" {
		in.VersionId = aws.String(o.VersionID)
	} else {
		in.IfMatch = aws.String(o.ETag)
	}
	head, err := p.src.HeadObject(ctx, in)
	if err != nil {
		if blob.IsGone(err) {
			// Replaced or deleted since it was listed: that version is gone, and the
			// next discovery plans the new one.
			p.log.WarnContext(ctx, "object changed since it was planned; skipped", "bucket", p.cfg.Source.Bucket, "key", o.Key, "etag", o.ETag)
			return nil
		}
		return fmt.Errorf("head s3://%s/%s: %w", p.cfg.Source.Bucket, o.Key, err)
	}
	version := o.VersionID
	if version == "" {
		version = aws.ToString(head.VersionId)
	}
	enc := ""
	if strings.HasSuffix(o.Key, ".gz") {
		enc = "gzip"
	}
	err = emit.Emit(ctx, provider.Raw{
		Dataset:         d.spec.Dataset,
		SourceKey:       "s3://" + p.cfg.Source.Bucket + "/" + o.Key,
		ContentType:     contentTypes[d.spec.Format.Type],
		ContentEncoding: enc,
		Object: &provider.ObjectRef{
			Endpoint: p.cfg.Source.Endpoint, Region: p.cfg.Source.Region, Credentials: p.cfg.Source.Credentials,
			Bucket: p.cfg.Source.Bucket, Key: o.Key, VersionID: version, ETag: o.ETag, Size: aws.ToInt64(head.ContentLength),
		},
		Attributes: map[string]string{"bucket": p.cfg.Source.Bucket, "key": o.Key, "etag": o.ETag},
		// The object's modification time orders its versions: a newer upload wins.
		DataVersion: aws.ToTime(head.LastModified).UnixNano(),
	})
	if err != nil {
		return err
	}
	return p.markSeen(ctx, o)
}

func (p *s3objects) datasetByName(name string) *prefixed {
	for i := range p.byPrefix {
		if p.byPrefix[i].spec.Dataset == name {
			return &p.byPrefix[i]
		}
	}
	return nil
}

// markSeen records that o's version was ingested, so listings skip it until it changes.
func (p *s3objects) markSeen(ctx context.Context, o transfer.Object) error {
	key := p.ckpt.Key(seenKey, objectHash(p.cfg.Source.Bucket, o.Key))
	for range 3 {
		cur, err := checkpoint.Load[Seen](ctx, p.ckpt, key)
		if err != nil {
			return err
		}
		cur.Value = Seen{ETag: o.ETag}
		if _, err = checkpoint.Save(ctx, p.ckpt, cur); !errors.Is(err, checkpoint.ErrConflict) {
			return err
		}
	}
	return nil // another replica recorded it meanwhile
}

// manifestRow is the transfers dataset's row of one copied object.
type manifestRow struct {
	DstBucket string `json:"dst_bucket"`
	DstKey    string `json:"dst_key"`
	SrcBucket string `json:"src_bucket"`
	SrcKey    string `json:"src_key"`
	SrcETag   string `json:"src_etag"`
	Size      int64  `json:"size"`
	DstETag   string `json:"dst_etag"`
	Mode      string `json:"mode"`
	Parts     int    `json:"parts"`
}

// copy copies one object (resuming an earlier attempt) and emits its manifest row.
func (p *s3objects) copy(ctx context.Context, prm copyParams, emit provider.Emitter) error {
	st, err := p.copier.Copy(ctx, prm.Object, prm.DstKey, p.journal(p.cfg.Target.Bucket, prm.DstKey))
	if errors.Is(err, transfer.ErrSourceChanged) {
		p.log.WarnContext(ctx, "source changed during the copy; the next discovery copies its new version", "key", prm.Object.Key, "err", err)
		return nil
	}
	if err != nil {
		return err
	}
	row, err := json.Marshal([]manifestRow{{
		DstBucket: st.DstBucket, DstKey: st.DstKey, SrcBucket: st.SrcBucket, SrcKey: st.Object.Key, SrcETag: st.Object.ETag,
		Size: st.Object.Size, DstETag: st.DstETag, Mode: string(st.Mode), Parts: st.Parts,
	}})
	if err != nil {
		return err
	}
	return emit.Emit(ctx, provider.Raw{
		Dataset:     TransfersDataset,
		SourceKey:   "transfer/" + st.DstBucket + "/" + st.DstKey + "@" + st.Object.ETag,
		ContentType: "application/json",
		Body:        bytes.NewReader(row),
		Attributes:  map[string]string{"src_key": st.Object.Key, "dst_key": st.DstKey},
	})
}
