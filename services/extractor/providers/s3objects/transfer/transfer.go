// Package transfer copies objects of any size from one S3 bucket to another, possibly at
// another endpoint with other credentials (two AWS accounts), in bounded memory: parts in
// flight × part size, never a whole object. Both sides on one endpoint copy on the server
// (UploadPartCopy); otherwise each part is a ranged GET streamed into UploadPart. A copy
// is resumable: the multipart upload id is journalled before the first part is sent, and
// a resumed copy lists the parts already uploaded (ListParts) and sends only the rest.
// Every part is checked (Content-MD5 on upload, its ETag against the MD5 of the bytes
// sent) and the finished object by size and by its multipart ETag, which is derived from
// the part checksums.
package transfer

import (
	"errors"
	"fmt"
	"time"
)

// S3's multipart limits.
const (
	MinPartSize = 5 << 20
	MaxPartSize = 5 << 30
	MaxParts    = 10000
)

// Config tunes a copy.
type Config struct {
	// PartSize of multipart copies (5 MiB..5 GiB); objects smaller than it are copied in
	// one request. Raised for objects that would need more than 10,000 parts.
	PartSize int64 `json:"part_size"`
	// Concurrency is the number of parts in flight; memory is Concurrency × PartSize
	// when streaming between endpoints (nothing when copying on the server).
	Concurrency int `json:"concurrency"`
}

// DefaultConfig is 16 MiB parts, 4 at once.
func DefaultConfig() Config { return Config{PartSize: 16 << 20, Concurrency: 4} }

// Validate names the wrong field.
func (c Config) Validate() error {
	var errs []error
	if c.PartSize < MinPartSize || c.PartSize > MaxPartSize {
		errs = append(errs, fmt.Errorf("transfer: part_size %d: want 5 MiB..5 GiB", c.PartSize))
	}
	if c.Concurrency < 1 || c.Concurrency > 64 {
		errs = append(errs, fmt.Errorf("transfer: concurrency %d: want 1..64", c.Concurrency))
	}
	return errors.Join(errs...)
}

// partSize is the part size used for an object of size bytes: cfg's, or larger when the
// object would otherwise need more than MaxParts parts (rounded up to a MiB).
func partSize(cfg Config, size int64) int64 {
	ps := cfg.PartSize
	if size > ps*MaxParts {
		ps = (size + MaxParts - 1) / MaxParts
		ps = (ps + 1<<20 - 1) &^ (1<<20 - 1)
	}
	return ps
}

// Object is a source object as listed.
type Object struct {
	Key       string `json:"key"`
	Size      int64  `json:"size"`
	ETag      string `json:"etag"`
	VersionID string `json:"version_id,omitempty"`
}

// Mode says how bytes travel.
type Mode string

const (
	// ModeSingle is one CopyObject (same endpoint) or GET → PUT (objects below a part).
	ModeSingle Mode = "single"
	// ModeServerCopy is a multipart upload whose parts are copied on the server.
	ModeServerCopy Mode = "server-copy"
	// ModeStream is a multipart upload fed by ranged GETs from the other endpoint.
	ModeStream Mode = "stream"
)

// State is a copy's journal entry (kept in the checkpoint store): enough to resume it
// and to show its progress.
type State struct {
	SrcBucket string `json:"src_bucket"`
	Object    Object `json:"object"`
	DstBucket string `json:"dst_bucket"`
	DstKey    string `json:"dst_key"`
	Mode      Mode   `json:"mode"`
	// UploadID of the multipart upload, recorded before its first part is sent.
	UploadID  string `json:"upload_id,omitempty"`
	PartSize  int64  `json:"part_size,omitempty"`
	Parts     int    `json:"parts,omitempty"`
	PartsDone int    `json:"parts_done"`
	BytesDone int64  `json:"bytes_done"`
	// Attempts records each run over this copy: parts found uploaded, parts sent.
	Attempts []Attempt `json:"attempts,omitempty"`
	// Done is set once the object is complete and verified; DstETag is its ETag.
	Done      bool      `json:"done"`
	DstETag   string    `json:"dst_etag,omitempty"`
	StartedAt time.Time `json:"started_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Attempt is one run of a copy.
type Attempt struct {
	// Listed is how many parts ListParts found already uploaded when it began.
	Listed int `json:"listed"`
	// Sent is how many parts it uploaded (journalled as each finished).
	Sent int `json:"sent"`
}
