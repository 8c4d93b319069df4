package envelope

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	sluicev1 "github.com/sluice-dev/sluice/proto/sluice/v1"
)

// Source says where a payload came from.
type Source struct {
	Provider    string
	Dataset     string
	SourceKey   string
	RunID       string
	ExtractedAt time.Time
	// ContentType of the decoded payload, e.g. application/json.
	ContentType string
	// ContentEncoding of the bytes as carried: "", "gzip" or "zstd".
	ContentEncoding string
	Attributes      map[string]string
	// DataVersion orders versions of the same data by the source's clock or sequence
	// (see sluice.v1.Record.data_version); 0 when the source gives none.
	DataVersion int64
}

// NewInline returns a Record that carries payload inline.
func NewInline(src Source, payload []byte) *sluicev1.Record {
	sum := sha256.Sum256(payload)
	rec := newRecord(src, int64(len(payload)), sum[:])
	rec.Payload = &sluicev1.Record_Inline{Inline: payload}
	return rec
}

// NewClaimCheck returns a Record whose payload lives in object storage.
func NewClaimCheck(src Source, ref *sluicev1.ClaimCheck) *sluicev1.Record {
	rec := newRecord(src, ref.GetSize(), ref.GetSha256())
	rec.Payload = &sluicev1.Record_ClaimCheck{ClaimCheck: ref}
	return rec
}

func newRecord(src Source, size int64, sum []byte) *sluicev1.Record {
	return &sluicev1.Record{
		Id:              RecordID(src.Provider, src.Dataset, src.SourceKey, sum),
		Provider:        src.Provider,
		Dataset:         src.Dataset,
		SourceKey:       src.SourceKey,
		RunId:           src.RunID,
		ExtractedAt:     timestamppb.New(src.ExtractedAt),
		ContentType:     src.ContentType,
		ContentEncoding: src.ContentEncoding,
		Size:            size,
		Sha256:          sum,
		Attributes:      src.Attributes,
		DataVersion:     src.DataVersion,
	}
}

// ErrInvalid is wrapped by every validation error of Validate.
var ErrInvalid = errors.New("invalid record")

// Validate checks that a record received from the wire is complete and that its id and
// inline payload agree with its content, so a corrupted or hand-made envelope is rejected
// with a reason instead of being staged.
func Validate(rec *sluicev1.Record) error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%w %q: %s", ErrInvalid, rec.GetId(), fmt.Sprintf(format, args...))
	}
	if err := CheckName("provider", rec.GetProvider()); err != nil {
		return fail("%v", err)
	}
	if err := CheckName("dataset", rec.GetDataset()); err != nil {
		return fail("%v", err)
	}
	if rec.GetSourceKey() == "" {
		return fail("source_key is empty")
	}
	if rec.GetExtractedAt() == nil {
		return fail("extracted_at is missing")
	}
	if len(rec.GetSha256()) != sha256.Size {
		return fail("sha256 has %d bytes, want %d", len(rec.GetSha256()), sha256.Size)
	}
	switch p := rec.GetPayload().(type) {
	case *sluicev1.Record_Inline:
		sum := sha256.Sum256(p.Inline)
		if !bytes.Equal(sum[:], rec.GetSha256()) {
			return fail("inline payload does not match its sha256")
		}
		if int64(len(p.Inline)) != rec.GetSize() {
			return fail("size %d does not match inline payload of %d bytes", rec.GetSize(), len(p.Inline))
		}
	case *sluicev1.Record_ClaimCheck:
		if p.ClaimCheck.GetBucket() == "" || p.ClaimCheck.GetKey() == "" {
			return fail("claim check without bucket or key")
		}
	default:
		return fail("no payload")
	}
	if want := RecordID(rec.GetProvider(), rec.GetDataset(), rec.GetSourceKey(), rec.GetSha256()); rec.GetId() != want {
		return fail("id does not match its content (want %s)", want)
	}
	return nil
}
