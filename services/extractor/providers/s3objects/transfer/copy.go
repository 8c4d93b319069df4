package transfer

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"golang.org/x/sync/errgroup"
)

// ErrVerify is wrapped when a copied part or object does not match its source.
var ErrVerify = errors.New("transfer verification failed")

// ErrSourceChanged is wrapped when the source object changed during the copy (its ETag
// no longer matches): the copy must start again from the new version.
var ErrSourceChanged = errors.New("source object changed during the copy")

// Side is one end of a transfer.
type Side struct {
	Client *s3.Client
	Bucket string
}

// Journal keeps a copy's State across crashes. Save is never called concurrently.
type Journal interface {
	Load(ctx context.Context) (State, bool, error)
	Save(ctx context.Context, s State) error
}

// Observer hears progress (for metrics); nil fields are skipped.
type Observer struct {
	// Part is called for each part (or single-request object) copied now.
	Part func(mode Mode, bytes int64)
	// Resumed is called when a resumed copy found parts already uploaded.
	Resumed func(parts int, bytes int64)
}

// Copier copies objects from Src to Dst. It is safe for concurrent use; all its copies
// together keep at most Config.Concurrency parts in flight, which bounds memory.
type Copier struct {
	src, dst Side
	cfg      Config
	// server copies on the server (both sides on one endpoint, the destination's
	// credentials able to read the source).
	server   bool
	observer Observer
	log      *slog.Logger
	// inFlight holds a token per part (or single-request object) being copied.
	inFlight chan struct{}
}

// NewCopier returns a copier; server selects server-side copies (UploadPartCopy), only
// valid when both sides are on the same endpoint.
func NewCopier(src, dst Side, cfg Config, server bool, obs Observer, log *slog.Logger) (*Copier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Copier{src: src, dst: dst, cfg: cfg, server: server, observer: obs, log: log, inFlight: make(chan struct{}, cfg.Concurrency)}, nil
}

// acquire waits until fewer than Concurrency parts are in flight in this copier.
func (c *Copier) acquire(ctx context.Context) error {
	select {
	case c.inFlight <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *Copier) release() { <-c.inFlight }

// Copy copies obj from the source bucket to dstKey in the destination bucket, resuming
// what the journal says an earlier attempt started, and returns the final state.
func (c *Copier) Copy(ctx context.Context, obj Object, dstKey string, j Journal) (State, error) {
	st, found, err := j.Load(ctx)
	if err != nil {
		return st, err
	}
	ps := partSize(c.cfg, obj.Size)
	mode := ModeStream
	if c.server {
		mode = ModeServerCopy
	}
	if obj.Size < ps {
		mode = ModeSingle
	}
	same := found && st.Object.ETag == obj.ETag && st.Object.Size == obj.Size && st.DstKey == dstKey && st.DstBucket == c.dst.Bucket
	if same && st.Done {
		return st, nil
	}
	if found && st.UploadID != "" && !(same && st.Mode == mode && st.PartSize == ps) {
		// An upload of an older version (or another layout): drop it, start again.
		c.abort(ctx, st.DstKey, st.UploadID)
	}
	if !same || st.Mode != mode || st.PartSize != ps {
		st = State{SrcBucket: c.src.Bucket, Object: obj, DstBucket: c.dst.Bucket, DstKey: dstKey, Mode: mode, PartSize: ps, StartedAt: time.Now().UTC()}
	}
	if mode == ModeSingle {
		return c.single(ctx, st, j)
	}
	return c.multipart(ctx, st, j)
}

func (c *Copier) abort(ctx context.Context, key, uploadID string) {
	_, err := c.dst.Client.AbortMultipartUpload(context.WithoutCancel(ctx), &s3.AbortMultipartUploadInput{
		Bucket: aws.String(c.dst.Bucket), Key: aws.String(key), UploadId: aws.String(uploadID)})
	if err != nil {
		c.log.WarnContext(ctx, "abort stale multipart upload", "bucket", c.dst.Bucket, "key", key, "upload_id", uploadID, "err", err)
	}
}

// single copies an object below one part in one request.
func (c *Copier) single(ctx context.Context, st State, j Journal) (State, error) {
	obj := st.Object
	if err := c.acquire(ctx); err != nil {
		return st, err
	}
	defer c.release()
	if c.server {
		_, err := c.dst.Client.CopyObject(ctx, &s3.CopyObjectInput{
			Bucket: aws.String(c.dst.Bucket), Key: aws.String(st.DstKey),
			CopySource: aws.String(CopySource(c.src.Bucket, obj.Key, obj.VersionID)), CopySourceIfMatch: aws.String(obj.ETag),
		})
		if err != nil {
			return st, c.srcErr(fmt.Sprintf("copy s3://%s/%s", c.src.Bucket, obj.Key), err)
		}
	} else {
		_, err := c.stream(ctx, obj, 0, obj.Size, func(body io.Reader) (*string, error) {
			out, err := c.dst.Client.PutObject(ctx, &s3.PutObjectInput{
				Bucket: aws.String(c.dst.Bucket), Key: aws.String(st.DstKey), Body: body, ContentLength: aws.Int64(obj.Size),
			}, unsignedPayload)
			if err != nil {
				return nil, err
			}
			return out.ETag, nil
		})
		if err != nil {
			return st, fmt.Errorf("put s3://%s/%s: %w", c.dst.Bucket, st.DstKey, err)
		}
	}
	if c.observer.Part != nil {
		c.observer.Part(ModeSingle, obj.Size)
	}
	want := ""
	if isMD5(unquote(obj.ETag)) {
		want = unquote(obj.ETag) // one-part objects carry the MD5 of their bytes
	}
	etag, err := c.verify(ctx, st, want)
	if err != nil {
		return st, err
	}
	st.Parts, st.PartsDone, st.BytesDone = 1, 1, obj.Size
	st.Attempts = append(st.Attempts, Attempt{Sent: 1})
	return c.finish(ctx, st, etag, j)
}

// multipart copies (or resumes copying) an object of at least one part.
func (c *Copier) multipart(ctx context.Context, st State, j Journal) (State, error) {
	obj := st.Object
	st.Parts = int((obj.Size + st.PartSize - 1) / st.PartSize)
	done := map[int32]types.CompletedPart{}
	var listedBytes int64
	if st.UploadID != "" {
		listed, err := c.listParts(ctx, st)
		var api smithy.APIError
		switch {
		case errors.As(err, &api) && api.ErrorCode() == "NoSuchUpload":
			c.log.InfoContext(ctx, "multipart upload gone; starting again", "key", st.DstKey, "upload_id", st.UploadID)
			st.UploadID = ""
		case err != nil:
			return st, err
		default:
			for n, p := range listed {
				if p.size == st.partLen(n) && int(n) <= len(st.PartETags) && st.PartETags[n-1] == p.etag {
					done[n] = types.CompletedPart{PartNumber: aws.Int32(n), ETag: aws.String(p.etag)}
					listedBytes += p.size
				}
			}
		}
	}
	if st.UploadID == "" {
		created, err := c.dst.Client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(c.dst.Bucket), Key: aws.String(st.DstKey)})
		if err != nil {
			return st, fmt.Errorf("start multipart s3://%s/%s: %w", c.dst.Bucket, st.DstKey, err)
		}
		st.UploadID = aws.ToString(created.UploadId)
		st.PartETags = make([]string, st.Parts)
		done = map[int32]types.CompletedPart{}
		listedBytes = 0
	}
	st.PartsDone, st.BytesDone = len(done), listedBytes
	st.Attempts = append(st.Attempts, Attempt{Listed: len(done)})
	st.UpdatedAt = time.Now().UTC()
	// The upload id is journalled before any part is sent: a crash from here on
	// leaves parts a resumed copy finds with ListParts.
	if err := j.Save(ctx, st); err != nil {
		return st, err
	}
	if len(done) > 0 {
		c.log.InfoContext(ctx, "resuming multipart copy", "key", st.DstKey, "upload_id", st.UploadID, "parts_uploaded", len(done), "parts", st.Parts)
		if c.observer.Resumed != nil {
			c.observer.Resumed(len(done), listedBytes)
		}
	}

	var todo []int32
	for n := int32(1); n <= int32(st.Parts); n++ {
		if _, ok := done[n]; !ok {
			todo = append(todo, n)
		}
	}
	// The part goroutines read the upload's fixed fields from their own copy; st and
	// done change under mu as parts finish.
	fixed := st
	var mu sync.Mutex // guards st and done, and serialises journal saves
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.cfg.Concurrency)
	for _, n := range todo {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			etag, err := c.partWithRetry(gctx, fixed, n)
			if err != nil {
				return err
			}
			size := fixed.partLen(n)
			if c.observer.Part != nil {
				c.observer.Part(fixed.Mode, size)
			}
			mu.Lock()
			defer mu.Unlock()
			done[n] = types.CompletedPart{PartNumber: aws.Int32(n), ETag: aws.String(etag)}
			st.PartETags[n-1] = etag
			st.PartsDone++
			st.BytesDone += size
			st.Attempts[len(st.Attempts)-1].Sent++
			st.UpdatedAt = time.Now().UTC()
			return j.Save(gctx, st)
		})
	}
	if err := g.Wait(); err != nil {
		if errors.Is(err, ErrSourceChanged) {
			c.abort(ctx, st.DstKey, st.UploadID)
		}
		return st, err
	}
	if err := ctx.Err(); err != nil {
		return st, err
	}
	parts := make([]types.CompletedPart, 0, len(done))
	for _, p := range done {
		parts = append(parts, p)
	}
	sort.Slice(parts, func(a, b int) bool { return *parts[a].PartNumber < *parts[b].PartNumber })
	want, err := compositeETag(parts)
	if err != nil {
		return st, err
	}
	out, err := c.dst.Client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: aws.String(c.dst.Bucket), Key: aws.String(st.DstKey), UploadId: aws.String(st.UploadID),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	if err != nil {
		return st, fmt.Errorf("complete multipart s3://%s/%s: %w", c.dst.Bucket, st.DstKey, err)
	}
	if got := unquote(aws.ToString(out.ETag)); got != "" && got != want {
		return st, fmt.Errorf("%w: s3://%s/%s: ETag %s after completion, %s from the part checksums", ErrVerify, c.dst.Bucket, st.DstKey, got, want)
	}
	etag, err := c.verify(ctx, st, want)
	if err != nil {
		return st, err
	}
	return c.finish(ctx, st, etag, j)
}

// partAttempts bounds the tries of one part within a copy. A streamed part cannot be
// retried by the SDK (its body is the source's response), so it is retried here from a
// new ranged GET; what still fails fails the copy, which resumes when the task is retried.
const partAttempts = 3

func (c *Copier) partWithRetry(ctx context.Context, st State, n int32) (string, error) {
	var err error
	for attempt := 1; attempt <= partAttempts; attempt++ {
		var etag string
		if etag, err = c.part(ctx, st, n); err == nil {
			return etag, nil
		}
		if ctx.Err() != nil || errors.Is(err, ErrSourceChanged) {
			return "", err
		}
		c.log.WarnContext(ctx, "part failed; trying again", "key", st.DstKey, "part", n, "attempt", attempt, "err", err)
		select {
		case <-time.After(time.Duration(attempt) * 500 * time.Millisecond):
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	return "", err
}

// part copies part n and returns its ETag.
func (c *Copier) part(ctx context.Context, st State, n int32) (string, error) {
	off := int64(n-1) * st.PartSize
	size := st.partLen(n)
	obj := st.Object
	if st.Mode == ModeServerCopy {
		if err := c.acquire(ctx); err != nil {
			return "", err
		}
		defer c.release()
		out, err := c.dst.Client.UploadPartCopy(ctx, &s3.UploadPartCopyInput{
			Bucket: aws.String(c.dst.Bucket), Key: aws.String(st.DstKey), UploadId: aws.String(st.UploadID), PartNumber: aws.Int32(n),
			CopySource: aws.String(CopySource(c.src.Bucket, obj.Key, obj.VersionID)), CopySourceIfMatch: aws.String(obj.ETag),
			CopySourceRange: aws.String(byteRange(off, size)),
		})
		if err != nil {
			return "", c.srcErr(fmt.Sprintf("copy part %d of s3://%s/%s", n, c.src.Bucket, obj.Key), err)
		}
		if out.CopyPartResult == nil || aws.ToString(out.CopyPartResult.ETag) == "" {
			return "", fmt.Errorf("%w: part %d of s3://%s/%s: copy returned no ETag", ErrVerify, n, c.dst.Bucket, st.DstKey)
		}
		return unquote(aws.ToString(out.CopyPartResult.ETag)), nil
	}
	// Streamed: the ranged GET's body is the UploadPart's body, so a part in flight
	// holds no more than the connections' buffers.
	if err := c.acquire(ctx); err != nil {
		return "", err
	}
	defer c.release()
	etag, err := c.stream(ctx, obj, off, size, func(body io.Reader) (*string, error) {
		out, err := c.dst.Client.UploadPart(ctx, &s3.UploadPartInput{
			Bucket: aws.String(c.dst.Bucket), Key: aws.String(st.DstKey), UploadId: aws.String(st.UploadID), PartNumber: aws.Int32(n),
			Body: body, ContentLength: aws.Int64(size),
		}, unsignedPayload)
		if err != nil {
			return nil, err
		}
		return out.ETag, nil
	})
	if err != nil {
		return "", fmt.Errorf("part %d of s3://%s/%s: %w", n, c.dst.Bucket, st.DstKey, err)
	}
	return etag, nil
}

// stream sends size bytes of the source object from off through send, which uploads
// them and returns the ETag the target gave them; the MD5 of the bytes, computed on the
// way, must equal that ETag.
func (c *Copier) stream(ctx context.Context, obj Object, off, size int64, send func(io.Reader) (*string, error)) (string, error) {
	body, err := c.open(ctx, obj, off, size)
	if err != nil {
		return "", err
	}
	defer body.Close()
	h := md5.New()
	counted := &countingReader{r: io.TeeReader(body, h)}
	got, err := send(counted)
	if err != nil {
		return "", err
	}
	if counted.n != size {
		return "", fmt.Errorf("%w: sent %d bytes of the source, want %d", ErrVerify, counted.n, size)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if etag := unquote(aws.ToString(got)); etag != sum {
		return "", fmt.Errorf("%w: ETag %s, MD5 of the bytes sent %s", ErrVerify, etag, sum)
	}
	return sum, nil
}

// unsignedPayload signs a streamed part's headers but not its bytes (which would need
// them all before the request); integrity is checked by the part's MD5 against its ETag.
func unsignedPayload(o *s3.Options) {
	o.APIOptions = append(o.APIOptions, v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// open streams size bytes of the source object from off, pinned to the listed version.
func (c *Copier) open(ctx context.Context, obj Object, off, size int64) (io.ReadCloser, error) {
	in := &s3.GetObjectInput{Bucket: aws.String(c.src.Bucket), Key: aws.String(obj.Key)}
	if size > 0 {
		in.Range = aws.String(byteRange(off, size))
	}
	if obj.VersionID != "" {
		in.VersionId = aws.String(obj.VersionID)
	} else {
		in.IfMatch = aws.String(obj.ETag)
	}
	out, err := c.src.Client.GetObject(ctx, in)
	if err != nil {
		return nil, c.srcErr(fmt.Sprintf("get %s of s3://%s/%s", aws.ToString(in.Range), c.src.Bucket, obj.Key), err)
	}
	return out.Body, nil
}

// verify checks the finished object's size (and ETag, when want is known) and returns
// its ETag.
func (c *Copier) verify(ctx context.Context, st State, want string) (string, error) {
	head, err := c.dst.Client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(c.dst.Bucket), Key: aws.String(st.DstKey)})
	if err != nil {
		return "", fmt.Errorf("head s3://%s/%s: %w", c.dst.Bucket, st.DstKey, err)
	}
	if got := aws.ToInt64(head.ContentLength); got != st.Object.Size {
		return "", fmt.Errorf("%w: s3://%s/%s has %d bytes, source %d", ErrVerify, c.dst.Bucket, st.DstKey, got, st.Object.Size)
	}
	etag := unquote(aws.ToString(head.ETag))
	if want != "" && etag != want {
		return "", fmt.Errorf("%w: s3://%s/%s has ETag %s, want %s", ErrVerify, c.dst.Bucket, st.DstKey, etag, want)
	}
	return etag, nil
}

func (c *Copier) finish(ctx context.Context, st State, etag string, j Journal) (State, error) {
	st.Done, st.DstETag, st.UploadID, st.PartETags, st.UpdatedAt = true, etag, "", nil, time.Now().UTC()
	return st, j.Save(ctx, st)
}

// srcErr marks a failed precondition on the source as ErrSourceChanged.
func (c *Copier) srcErr(what string, err error) error {
	var api smithy.APIError
	if errors.As(err, &api) && (api.ErrorCode() == "PreconditionFailed" || api.ErrorCode() == "NoSuchKey" || api.ErrorCode() == "NoSuchVersion") {
		return fmt.Errorf("%s: %w: %w", what, ErrSourceChanged, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

type listedPart struct {
	etag string
	size int64
}

func (c *Copier) listParts(ctx context.Context, st State) (map[int32]listedPart, error) {
	out := map[int32]listedPart{}
	in := &s3.ListPartsInput{Bucket: aws.String(c.dst.Bucket), Key: aws.String(st.DstKey), UploadId: aws.String(st.UploadID)}
	for {
		page, err := c.dst.Client.ListParts(ctx, in)
		if err != nil {
			return nil, err
		}
		for _, p := range page.Parts {
			out[aws.ToInt32(p.PartNumber)] = listedPart{etag: unquote(aws.ToString(p.ETag)), size: aws.ToInt64(p.Size)}
		}
		if !aws.ToBool(page.IsTruncated) || page.NextPartNumberMarker == nil {
			return out, nil
		}
		in.PartNumberMarker = page.NextPartNumberMarker
	}
}

// partLen is the size of part n (the last one may be short).
func (s State) partLen(n int32) int64 {
	off := int64(n-1) * s.PartSize
	return min(s.PartSize, s.Object.Size-off)
}

// compositeETag is the ETag S3 gives a multipart object: the MD5 of the parts' binary
// MD5s, then "-" and the number of parts.
func compositeETag(parts []types.CompletedPart) (string, error) {
	h := md5.New()
	for _, p := range parts {
		raw, err := hex.DecodeString(unquote(aws.ToString(p.ETag)))
		if err != nil || len(raw) != md5.Size {
			return "", fmt.Errorf("%w: part %d has ETag %q, not an MD5", ErrVerify, aws.ToInt32(p.PartNumber), aws.ToString(p.ETag))
		}
		h.Write(raw)
	}
	return hex.EncodeToString(h.Sum(nil)) + "-" + strconv.Itoa(len(parts)), nil
}

// CopySource is the x-amz-copy-source of an object: bucket and URL-encoded key.
func CopySource(bucket, key, versionID string) string {
	segs := strings.Split(key, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	src := bucket + "/" + strings.Join(segs, "/")
	if versionID != "" {
		src += "?versionId=" + url.QueryEscape(versionID)
	}
	return src
}

func byteRange(off, size int64) string {
	return "bytes=" + strconv.FormatInt(off, 10) + "-" + strconv.FormatInt(off+size-1, 10)
}

func unquote(etag string) string { return strings.Trim(etag, `"`) }

func isMD5(s string) bool {
	if len(s) != 2*md5.Size {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}
