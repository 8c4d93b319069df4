package blob

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// maxCopySize is the largest object S3 copies in one CopyObject call (5 GiB).
const maxCopySize = 5 << 30

// PutContent streams r to the key that keyOf derives from the sha256 of its bytes, so that
// storing the same payload again (a retried task, a redelivery, another replica) writes
// the same object instead of leaving another one behind, and different bytes never
// overwrite an object that a record already points to.
//
// The key is known only once every byte was hashed. A payload that fits one part is
// hashed in memory and PUT once. A larger one is uploaded under staging, then copied
// on the server to its content key and the staging object deleted. staging must be
// deterministic too (derive it from what the payload is, e.g. its source), so that an
// attempt that dies before the copy leaves an object the next attempt overwrites and
// deletes, not an orphan. The copy insists on the ETag of this upload: if a concurrent
// attempt replaced the staging object meanwhile, PutContent fails (retry it) rather than
// file that attempt's bytes under this content key.
func (s *Store) PutContent(ctx context.Context, keyOf func(sha256 []byte) string, staging, contentType string, r io.Reader) (Object, error) {
	h := sha256.New()
	first := make([]byte, s.cfg.PartSize)
	n, err := io.ReadFull(io.TeeReader(r, h), first)
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		sum := h.Sum(nil)
		return s.Put(ctx, keyOf(sum), contentType, bytes.NewReader(first[:n]))
	}
	if err != nil {
		return Object{}, fmt.Errorf("read payload for s3://%s/%s: %w", s.cfg.Bucket, staging, err)
	}
	up, err := s.multipart(ctx, staging, contentType, first, io.TeeReader(r, h), h)
	if err != nil {
		return Object{}, err
	}
	key := keyOf(up.SHA256)
	if err := s.copy(ctx, up, key, contentType); err != nil {
		return Object{}, err
	}
	if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: aws.String(staging)}); err != nil {
		return Object{}, fmt.Errorf("delete staging s3://%s/%s: %w", s.cfg.Bucket, staging, err)
	}
	return Object{Bucket: s.cfg.Bucket, Key: key, Size: up.Size, SHA256: up.SHA256}, nil
}

// copy copies the uploaded object src to key on the server, only if src is still the
// version this upload wrote.
func (s *Store) copy(ctx context.Context, src Object, key, contentType string) error {
	if src.Size > maxCopySize {
		return fmt.Errorf("copy s3://%s/%s to %s: %d bytes is more than S3 copies at once (5 GiB); emit smaller payloads", src.Bucket, src.Key, key, src.Size)
	}
	_, err := s.client.CopyObject(ctx, &s3.CopyObjectInput{
		Bucket: aws.String(s.cfg.Bucket), Key: aws.String(key),
		CopySource:        aws.String(src.Bucket + "/" + src.Key),
		CopySourceIfMatch: src.etag,
		ContentType:       aws.String(contentType),
	})
	if err != nil {
		return fmt.Errorf("copy s3://%s/%s to %s: %w", src.Bucket, src.Key, key, err)
	}
	return nil
}
