package staging

import (
	"fmt"

	"github.com/klauspost/compress/zstd"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// Inline payloads are stored compressed: report JSON shrinks 5–10x with zstd at its
// fastest level, which cuts what staging writes and replay reads by as much. Measured on
// FerretDB (SQLite), staging was bound by the bytes written. The compression is a storage
// detail: a Document always holds the payload exactly as the provider sent it, whoever
// decodes it (Get, Find, or a caller's own query decoding into a Document).

// CodecZstd marks a payload stored zstd-compressed (field payload_codec).
const CodecZstd = "zstd"

// minCompressBytes is the smallest payload worth compressing.
const minCompressBytes = 1024

// maxPayloadBytes bounds a decompressed payload; MongoDB documents are at most 16 MiB.
const maxPayloadBytes = 64 << 20

// payloadDecoder decompresses payloads. It holds no per-call state: DecodeAll is safe for
// concurrent use, so one instance serves every Document.
var payloadDecoder, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(maxPayloadBytes))

// docFields is Document without its methods: what the driver encodes and decodes.
type docFields Document

// UnmarshalBSON decodes a stored document and decompresses its payload.
func (d *Document) UnmarshalBSON(data []byte) error {
	var s docFields
	if err := bson.Unmarshal(data, &s); err != nil {
		return err
	}
	*d = Document(s)
	switch d.PayloadCodec {
	case "":
	case CodecZstd:
		p, err := payloadDecoder.DecodeAll(d.Payload, make([]byte, 0, max(d.Size, 0)))
		if err != nil {
			return fmt.Errorf("document %s: decompress payload: %w", d.ID, err)
		}
		if int64(len(p)) != d.Size {
			return fmt.Errorf("document %s: payload decompresses to %d bytes, want %d", d.ID, len(p), d.Size)
		}
		d.Payload, d.PayloadCodec = p, ""
	default:
		return fmt.Errorf("document %s: payload codec %q unknown", d.ID, d.PayloadCodec)
	}
	return nil
}

// compressor compresses payloads for storage; nil stores them as they are.
type compressor struct{ enc *zstd.Encoder }

func newCompressor(codec string) (*compressor, error) {
	switch codec {
	case "", "none":
		return nil, nil
	case CodecZstd:
		enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		return &compressor{enc: enc}, nil
	}
	return nil, fmt.Errorf("--payload-codec %q: want zstd or none", codec)
}

// store returns d as it is written. A payload already compressed by its provider (a
// content encoding) or too small to gain is kept as is.
func (c *compressor) store(d Document) docFields {
	s := docFields(d)
	s.PayloadCodec = ""
	if c == nil || len(d.Payload) < minCompressBytes || d.ContentEncoding != "" {
		return s
	}
	z := c.enc.EncodeAll(d.Payload, make([]byte, 0, len(d.Payload)/4))
	if len(z) < len(d.Payload) {
		s.Payload, s.PayloadCodec = z, CodecZstd
	}
	return s
}
