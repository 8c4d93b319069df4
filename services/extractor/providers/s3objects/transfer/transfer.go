// Package transfer copies objects of any size from one S3 bucket to another, possibly at
// another endpoint with other credentials (two AWS accounts), in bounded memory. Both
// sides on one endpoint copy on the server (UploadPartCopy); otherwise each part is a
// ranged GET whose body streams straight into UploadPart, so a part in flight holds only
// connection buffers, never a whole part or object. Objects below one part take a single
// request (CopyObject, or a GET streamed into a PUT).
//
// A copy is resumable: the multipart upload id is journalled before the first part is
// sent, and each part's ETag once verified (the MD5 of the bytes read from the source,
// computed on the way, must equal the ETag the target gives the part). A resumed copy
// lists the parts on the target (ListParts) and sends only those not both listed and
// journalled: a part cut off by a crash may be listed with the wrong bytes. The finished
// object is checked by size and by its multipart ETag, derived from the part MD5s.
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
	// Concurrency is the number of parts in flight in a copier, all copies together.
	// Parts stream through without being buffered, so memory does not grow with it
	// beyond connection buffers.
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
	// ModeSingle is one CopyObject (same endpoint) or a GET streamed into a PUT
	// (objects below a part).
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
	// PartETags holds the ETag of each part (index: part number - 1) once this copy
	// verified it, "" before. A resumed copy keeps only listed parts whose ETag is here:
	// a part cut off by a crash can be listed by the server with garbage in it.
	PartETags []string `json:"part_etags,omitempty"`
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
	// Listed is how many parts it found already uploaded (listed by the target and
	// journalled as verified) when it began.
	Listed int `json:"listed"`
	// Sent is how many parts it uploaded (journalled as each finished).
	Sent int `json:"sent"`
}
