package blob

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"sort"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/sync/errgroup"
)

// Object describes an uploaded object.
type Object struct {
	Bucket string
	Key    string
	Size   int64
	SHA256 []byte
	// etag is what the server named this version of the object (multipart only), so a
	// copy can insist on exactly this upload.
	etag *string
}

// Put streams r to key: one PUT when it fits in a part, otherwise a multipart upload with
// at most Concurrency parts in flight, so memory is bounded by (Concurrency+1) × PartSize
// whatever the payload size. The sha256 of the bytes is computed on the way.
func (s *Store) Put(ctx context.Context, key, contentType string, r io.Reader) (Object, error) {
	h := sha256.New()
	r = io.TeeReader(r, h)
	first := make([]byte, s.cfg.PartSize)
	n, err := io.ReadFull(r, first)
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		_, perr := s.client.PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String(s.cfg.Bucket), Key: aws.String(key), ContentType: aws.String(contentType),
			Body: bytes.NewReader(first[:n]), ContentLength: aws.Int64(int64(n)),
		})
		if perr != nil {
			return Object{}, fmt.Errorf("put s3://%s/%s: %w", s.cfg.Bucket, key, perr)
		}
		return Object{Bucket: s.cfg.Bucket, Key: key, Size: int64(n), SHA256: h.Sum(nil)}, nil
	}
	if err != nil {
		return Object{}, fmt.Errorf("read payload for s3://%s/%s: %w", s.cfg.Bucket, key, err)
	}
	return s.multipart(ctx, key, contentType, first, r, h)
}

func (s *Store) multipart(ctx context.Context, key, contentType string, first []byte, r io.Reader, h hash.Hash) (Object, error) {
	created, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: aws.String(s.cfg.Bucket), Key: aws.String(key), ContentType: aws.String(contentType),
	})
	if err != nil {
		return Object{}, fmt.Errorf("start multipart s3://%s/%s: %w", s.cfg.Bucket, key, err)
	}
	abort := func(cause error) (Object, error) {
		_, _ = s.client.AbortMultipartUpload(context.WithoutCancel(ctx), &s3.AbortMultipartUploadInput{
			Bucket: aws.String(s.cfg.Bucket), Key: aws.String(key), UploadId: created.UploadId,
		})
		return Object{}, fmt.Errorf("multipart s3://%s/%s: %w", s.cfg.Bucket, key, cause)
	}

	pool := sync.Pool{New: func() any { b := make([]byte, s.cfg.PartSize); return &b }}
	var mu sync.Mutex
	var parts []types.CompletedPart
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.cfg.Concurrency)
	var size int64
	buf, n := first, len(first)
	var bufp *[]byte // nil for the first part, which the caller allocated
	for num := int32(1); ; num++ {
		if num > 10000 {
			return abort(errors.New("payload needs more than 10,000 parts; raise the part size"))
		}
		part, partNum, owner := buf[:n], num, bufp
		size += int64(n)
		g.Go(func() error {
			if owner != nil {
				defer pool.Put(owner)
			}
			out, err := s.client.UploadPart(gctx, &s3.UploadPartInput{
				Bucket: aws.String(s.cfg.Bucket), Key: aws.String(key), UploadId: created.UploadId,
				PartNumber: aws.Int32(partNum), Body: bytes.NewReader(part), ContentLength: aws.Int64(int64(len(part))),
			})
			if err != nil {
				return fmt.Errorf("part %d: %w", partNum, err)
			}
			mu.Lock()
			parts = append(parts, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(partNum)})
			mu.Unlock()
			return nil
		})
		bufp = pool.Get().(*[]byte)
		buf = *bufp
		var err error
		n, err = io.ReadFull(r, buf)
		if errors.Is(err, io.EOF) {
			pool.Put(bufp)
			break
		}
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
			_ = g.Wait()
			return abort(fmt.Errorf("read payload: %w", err))
		}
		if gctx.Err() != nil {
			break
		}
	}
	if err := g.Wait(); err != nil {
		return abort(err)
	}
	sort.Slice(parts, func(i, j int) bool { return *parts[i].PartNumber < *parts[j].PartNumber })
	done, err := s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: aws.String(s.cfg.Bucket), Key: aws.String(key), UploadId: created.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	if err != nil {
		return abort(err)
	}
	return Object{Bucket: s.cfg.Bucket, Key: key, Size: size, SHA256: h.Sum(nil), etag: done.ETag}, nil
}
