// Package staging keeps raw payloads in a MongoDB-compatible document store, one
// collection per provider, insert-only: a document is keyed by its record id and never
// changes, so a duplicate-key error means the record is already staged.
package staging

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
	"google.golang.org/protobuf/types/known/timestamppb"

	sluicev1 "github.com/sluice-dev/sluice/proto/sluice/v1"
)

// Config locates the document store.
type Config struct {
	URI      string
	Database string
	// WriteConcern is "majority" or a number of nodes ("1"); staging acks a record only
	// once the store has acknowledged it at this level.
	WriteConcern string
	// PayloadCodec compresses inline payloads written by Insert: "zstd", or "" / "none".
	// Reading works whatever the codec a document was written with.
	PayloadCodec string
}

// Validate names the wrong field.
func (c Config) Validate() error {
	var errs []error
	if c.URI == "" {
		errs = append(errs, errors.New("--mongo-uri / SLUICE_MONGO_URI is empty; want e.g. mongodb://127.0.0.1:27017/"))
	}
	if c.Database == "" {
		errs = append(errs, errors.New("--mongo-database / SLUICE_MONGO_DATABASE is empty"))
	}
	if _, err := c.writeConcern(); err != nil {
		errs = append(errs, err)
	}
	if c.PayloadCodec != "" && c.PayloadCodec != "none" && c.PayloadCodec != CodecZstd {
		errs = append(errs, fmt.Errorf("--payload-codec %q: want zstd or none", c.PayloadCodec))
	}
	return errors.Join(errs...)
}

func (c Config) writeConcern() (*writeconcern.WriteConcern, error) {
	switch c.WriteConcern {
	case "", "majority":
		return writeconcern.Majority(), nil
	case "1":
		return writeconcern.W1(), nil
	}
	var n int
	if _, err := fmt.Sscanf(c.WriteConcern, "%d", &n); err != nil || n < 1 {
		return nil, fmt.Errorf("--mongo-write-concern / SLUICE_MONGO_WRITE_CONCERN %q: want majority or a positive number", c.WriteConcern)
	}
	return &writeconcern.WriteConcern{W: n}, nil
}

// Store is the raw document store.
type Store struct {
	client *mongo.Client
	db     *mongo.Database
	comp   *compressor
}

// Open connects and pings.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	wc, _ := cfg.writeConcern()
	comp, err := newCompressor(cfg.PayloadCodec)
	if err != nil {
		return nil, err
	}
	client, err := mongo.Connect(options.Client().ApplyURI(cfg.URI).SetWriteConcern(wc))
	if err != nil {
		return nil, fmt.Errorf("connect document store: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := client.Ping(pctx, readpref.Primary()); err != nil {
		_ = client.Disconnect(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("ping document store: %w", err)
	}
	return &Store{client: client, db: client.Database(cfg.Database), comp: comp}, nil
}

// Close disconnects.
func (s *Store) Close(ctx context.Context) error { return s.client.Disconnect(ctx) }

// Ping checks the connection, for /readyz.
func (s *Store) Ping(ctx context.Context) error { return s.client.Ping(ctx, readpref.Primary()) }

// Collection is the collection of provider's raw documents.
func (s *Store) Collection(provider string) *mongo.Collection {
	return s.db.Collection("raw_" + provider)
}

// EnsureIndexes creates the indexes replay queries (by dataset and extraction time, by
// extraction time alone, by run) and retention (by staging time) use, those that do not
// exist yet: FerretDB v1 drops the connection when asked to create an index that exists.
func (s *Store) EnsureIndexes(ctx context.Context, provider string) error {
	coll := s.Collection(provider)
	cur, err := coll.Indexes().List(ctx)
	if err != nil {
		return fmt.Errorf("indexes of raw_%s: %w", provider, err)
	}
	var existing []struct {
		Name string `bson:"name"`
	}
	if err := cur.All(ctx, &existing); err != nil {
		return fmt.Errorf("indexes of raw_%s: %w", provider, err)
	}
	have := map[string]bool{}
	for _, ix := range existing {
		have[ix.Name] = true
	}
	var missing []mongo.IndexModel
	for _, keys := range replayIndexes {
		if !have[indexName(keys)] {
			missing = append(missing, mongo.IndexModel{Keys: keys, Options: options.Index().SetName(indexName(keys))})
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if _, err := coll.Indexes().CreateMany(ctx, missing); err != nil {
		return fmt.Errorf("indexes of raw_%s: %w", provider, err)
	}
	return nil
}

var replayIndexes = []bson.D{
	{{Key: "dataset", Value: 1}, {Key: "extracted_at", Value: 1}},
	{{Key: "extracted_at", Value: 1}},
	{{Key: "run_id", Value: 1}},
	{{Key: "staged_at", Value: 1}},
}

// indexName is MongoDB's default name of an ascending index on keys, e.g. run_id_1.
func indexName(keys bson.D) string {
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s_%v", k.Key, k.Value))
	}
	return strings.Join(parts, "_")
}

// Document is a staged raw record.
type Document struct {
	ID              string    `bson:"_id"`
	Provider        string    `bson:"provider"`
	Dataset         string    `bson:"dataset"`
	SourceKey       string    `bson:"source_key"`
	RunID           string    `bson:"run_id"`
	ExtractedAt     time.Time `bson:"extracted_at"`
	StagedAt        time.Time `bson:"staged_at"`
	ContentType     string    `bson:"content_type"`
	ContentEncoding string    `bson:"content_encoding,omitempty"`
	Payload         []byte    `bson:"payload,omitempty"`
	S3Bucket        string    `bson:"s3_bucket,omitempty"`
	S3Key           string    `bson:"s3_key,omitempty"`
	// S3Object is set when the payload is the source's own object (an external claim
	// check): where it is and which version, instead of a copy.
	S3Object   *ObjectRef        `bson:"s3_object,omitempty"`
	Size       int64             `bson:"size"`
	SHA256     string            `bson:"sha256"`
	Attributes map[string]string `bson:"attributes,omitempty"`
	TraceID    string            `bson:"trace_id,omitempty"`
	// DataVersion is the record's data_version (0, left out, when the source gives none),
	// so a replay orders the rows it reloads as the first load did.
	DataVersion int64 `bson:"data_version,omitempty"`
	// PayloadCodec says how Payload is compressed in the collection. Documents this
	// package returns always hold the payload decompressed, with PayloadCodec empty.
	PayloadCodec string `bson:"payload_codec,omitempty"`
}

// FromRecord converts an envelope to its document.
func FromRecord(rec *sluicev1.Record, traceID string, stagedAt time.Time) Document {
	d := Document{
		ID:              rec.GetId(),
		Provider:        rec.GetProvider(),
		Dataset:         rec.GetDataset(),
		SourceKey:       rec.GetSourceKey(),
		RunID:           rec.GetRunId(),
		ExtractedAt:     rec.GetExtractedAt().AsTime(),
		StagedAt:        stagedAt.UTC(),
		ContentType:     rec.GetContentType(),
		ContentEncoding: rec.GetContentEncoding(),
		Size:            rec.GetSize(),
		SHA256:          hex.EncodeToString(rec.GetSha256()),
		Attributes:      rec.GetAttributes(),
		TraceID:         traceID,
		DataVersion:     rec.GetDataVersion(),
	}
	switch p := rec.GetPayload().(type) {
	case *sluicev1.Record_Inline:
		d.Payload = p.Inline
	case *sluicev1.Record_ClaimCheck:
		cc := p.ClaimCheck
		d.S3Bucket, d.S3Key = cc.GetBucket(), cc.GetKey()
		if cc.GetExternal() {
			d.S3Object = &ObjectRef{Endpoint: cc.GetEndpoint(), Region: cc.GetRegion(), VersionID: cc.GetVersionId(), ETag: cc.GetEtag(), Credentials: cc.GetCredentials()}
		}
	}
	return d
}

// ObjectRef is where an external claim check's object lives (see sluice.v1.ClaimCheck).
type ObjectRef struct {
	Endpoint    string `bson:"endpoint,omitempty"`
	Region      string `bson:"region,omitempty"`
	VersionID   string `bson:"version_id,omitempty"`
	ETag        string `bson:"etag,omitempty"`
	Credentials string `bson:"credentials,omitempty"`
}

// Record converts a document back to the envelope published on STAGED.
func (d Document) Record() *sluicev1.Record {
	sum, _ := hex.DecodeString(d.SHA256)
	rec := &sluicev1.Record{
		Id:              d.ID,
		Provider:        d.Provider,
		Dataset:         d.Dataset,
		SourceKey:       d.SourceKey,
		RunId:           d.RunID,
		ExtractedAt:     timestamppb.New(d.ExtractedAt),
		StagedAt:        timestamppb.New(d.StagedAt),
		ContentType:     d.ContentType,
		ContentEncoding: d.ContentEncoding,
		Size:            d.Size,
		Sha256:          sum,
		Attributes:      d.Attributes,
		DataVersion:     d.DataVersion,
	}
	if d.S3Key != "" {
		cc := &sluicev1.ClaimCheck{Bucket: d.S3Bucket, Key: d.S3Key, Size: d.Size, Sha256: sum}
		if o := d.S3Object; o != nil {
			cc.External, cc.Endpoint, cc.Region, cc.VersionId, cc.Etag, cc.Credentials = true, o.Endpoint, o.Region, o.VersionID, o.ETag, o.Credentials
		}
		rec.Payload = &sluicev1.Record_ClaimCheck{ClaimCheck: cc}
	} else {
		rec.Payload = &sluicev1.Record_Inline{Inline: d.Payload}
	}
	return rec
}

// InsertResult says, per document, whether it is now staged.
type InsertResult struct {
	// Errs[i] is nil when docs[i] is staged (inserted now or already there).
	Errs []error
	// Inserted counts new documents; Duplicates those already staged.
	Inserted, Duplicates int
}

// Insert writes docs of one provider in one unordered bulk insert. Duplicate keys count as
// success: staging is idempotent.
func (s *Store) Insert(ctx context.Context, provider string, docs []Document) InsertResult {
	res := InsertResult{Errs: make([]error, len(docs))}
	if len(docs) == 0 {
		return res
	}
	batch := make([]any, len(docs))
	for i := range docs {
		batch[i] = s.comp.store(docs[i])
	}
	_, err := s.Collection(provider).InsertMany(ctx, batch, options.InsertMany().SetOrdered(false))
	if err == nil {
		res.Inserted = len(docs)
		return res
	}
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) || bwe.WriteConcernError != nil {
		for i := range res.Errs {
			res.Errs[i] = fmt.Errorf("stage into raw_%s: %w", provider, err)
		}
		return res
	}
	failed := 0
	for _, we := range bwe.WriteErrors {
		if we.Index < 0 || we.Index >= len(docs) {
			continue
		}
		failed++
		if we.Code == 11000 {
			res.Duplicates++
			continue
		}
		res.Errs[we.Index] = fmt.Errorf("stage %s into raw_%s: %s (code %d)", docs[we.Index].ID, provider, we.Message, we.Code)
	}
	res.Inserted = len(docs) - failed
	return res
}

// Get returns one staged document.
func (s *Store) Get(ctx context.Context, provider, id string) (Document, error) {
	var d Document
	err := s.Collection(provider).FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return d, fmt.Errorf("record %s not staged in raw_%s: %w", id, provider, ErrNotFound)
	}
	if err != nil {
		return d, fmt.Errorf("get %s from raw_%s: %w", id, provider, err)
	}
	return d, nil
}

// ErrNotFound is wrapped when a document does not exist.
var ErrNotFound = errors.New("not found")

// Drop deletes the whole database; tests use it to clean up after themselves.
func (s *Store) Drop(ctx context.Context) error {
	if err := s.db.Drop(ctx); err != nil {
		return fmt.Errorf("drop database %s: %w", s.db.Name(), err)
	}
	return nil
}
