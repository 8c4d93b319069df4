package staging_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/sluice-dev/sluice/internal/envelope"
	"github.com/sluice-dev/sluice/internal/staging"
	"github.com/sluice-dev/sluice/internal/testinfra"
	sluicev1 "github.com/sluice-dev/sluice/proto/sluice/v1"
)

// openStore opens a database unique to the test and drops it at the end.
func openStore(t *testing.T) *staging.Store {
	t.Helper()
	env := testinfra.Require(t, testinfra.Mongo)
	var b [4]byte
	_, _ = rand.Read(b[:])
	ctx := context.Background()
	s, err := staging.Open(ctx, staging.Config{URI: env.MongoURI, Database: "sluice_test_" + hex.EncodeToString(b[:]), WriteConcern: "1", PayloadCodec: staging.CodecZstd})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Drop(context.Background()); err != nil {
			t.Logf("drop test database: %v", err)
		}
		_ = s.Close(context.Background())
	})
	return s
}

func record(dataset, key, run string, extracted time.Time, payload string) *sluicev1.Record {
	return envelope.NewInline(envelope.Source{Provider: "acme", Dataset: dataset, SourceKey: key, RunID: run,
		ExtractedAt: extracted, ContentType: "application/json", Attributes: map[string]string{"k": "v"}}, []byte(payload))
}

func TestInsertIsIdempotentAndKeepsMetadata(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	// A restarted staging-store ensures the indexes again: that must be a no-op.
	for range 2 {
		if err := s.EnsureIndexes(ctx, "acme"); err != nil {
			t.Fatal(err)
		}
	}
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	rec := record("orders", "page=1", "run1", at, `[{"id":1}]`)
	claim := envelope.NewClaimCheck(envelope.Source{Provider: "acme", Dataset: "orders", SourceKey: "page=2", RunID: "run1", ExtractedAt: at, ContentType: "application/json"},
		&sluicev1.ClaimCheck{Bucket: "claims", Key: "acme/orders/x", Size: 123, Sha256: make([]byte, 32)})
	docs := []staging.Document{staging.FromRecord(rec, "trace-1", at), staging.FromRecord(claim, "trace-2", at)}
	res := s.Insert(ctx, "acme", docs)
	if res.Inserted != 2 || res.Duplicates != 0 || slices.ContainsFunc(res.Errs, func(e error) bool { return e != nil }) {
		t.Fatalf("first insert: %+v", res)
	}
	res = s.Insert(ctx, "acme", docs)
	if res.Inserted != 0 || res.Duplicates != 2 || slices.ContainsFunc(res.Errs, func(e error) bool { return e != nil }) {
		t.Fatalf("second insert of the same records: %+v, want two duplicates and no errors", res)
	}
	got, err := s.Get(ctx, "acme", rec.GetId())
	if err != nil {
		t.Fatal(err)
	}
	if got.TraceID != "trace-1" || got.RunID != "run1" || got.SourceKey != "page=1" || !got.ExtractedAt.Equal(at) || string(got.Payload) != `[{"id":1}]` || got.Attributes["k"] != "v" {
		t.Errorf("stored document %+v lost metadata", got)
	}
	c, err := s.Get(ctx, "acme", claim.GetId())
	if err != nil {
		t.Fatal(err)
	}
	if c.S3Bucket != "claims" || c.S3Key != "acme/orders/x" || c.Payload != nil {
		t.Errorf("claim-checked document %+v", c)
	}
	if _, ok := c.Record().GetPayload().(*sluicev1.Record_ClaimCheck); !ok {
		t.Errorf("claim-checked document converts back to %T", c.Record().GetPayload())
	}
	if err := envelope.Validate(got.Record()); err != nil {
		t.Errorf("staged document converts back to an invalid record: %v", err)
	}
}

func TestFindSelectsByDatasetTimeAndRun(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	day := func(d int) time.Time { return time.Date(2025, 3, d, 0, 0, 0, 0, time.UTC) }
	var docs []staging.Document
	for i, r := range []*sluicev1.Record{
		record("orders", "a", "run1", day(1), "1"),
		record("orders", "b", "run1", day(2), "2"),
		record("orders", "c", "run2", day(3), "3"),
		record("refunds", "d", "run2", day(2), "4"),
	} {
		docs = append(docs, staging.FromRecord(r, "", day(10).Add(time.Duration(i)*time.Second)))
	}
	s.Insert(ctx, "acme", docs)
	cases := []struct {
		name string
		f    staging.Filter
		want []string
	}{
		{"all", staging.Filter{}, []string{"a", "b", "c", "d"}},
		{"dataset", staging.Filter{Dataset: "orders"}, []string{"a", "b", "c"}},
		{"since", staging.Filter{Since: day(2)}, []string{"b", "c", "d"}},
		{"until is exclusive", staging.Filter{Until: day(2)}, []string{"a"}},
		{"window and dataset", staging.Filter{Dataset: "orders", Since: day(2), Until: day(3)}, []string{"b"}},
		{"run", staging.Filter{RunID: "run2"}, []string{"c", "d"}},
		{"nothing", staging.Filter{Dataset: "none"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got []string
			if err := s.Find(ctx, "acme", c.f, 2, func(d staging.Document) error {
				got = append(got, d.SourceKey)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			slices.Sort(got)
			if !slices.Equal(got, c.want) {
				t.Errorf("Find(%+v) = %v, want %v", c.f, got, c.want)
			}
			n, err := s.Count(ctx, "acme", c.f)
			if err != nil {
				t.Fatal(err)
			}
			if n != int64(len(c.want)) {
				t.Errorf("Count(%+v) = %d, want %d", c.f, n, len(c.want))
			}
		})
	}
	if err := (staging.Filter{Since: day(3), Until: day(2)}).Validate(); err == nil {
		t.Error("a window ending before it starts is valid")
	}
}

func TestDeleteStagedBefore(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	if err := s.EnsureIndexes(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	old, recent := time.Now().Add(-48*time.Hour), time.Now()
	n := 2500
	if testing.Short() {
		n = 200
	}
	var docs []staging.Document
	for i := range n {
		at := old
		if i%5 == 0 {
			at = recent
		}
		docs = append(docs, staging.FromRecord(record("orders", fmt.Sprint(i), "run", old, fmt.Sprint(i)), "", at))
	}
	for first := 0; first < len(docs); first += 500 {
		if res := s.Insert(ctx, "acme", docs[first:min(first+500, len(docs))]); res.Inserted != min(500, len(docs)-first) {
			t.Fatalf("insert: %+v", res)
		}
	}
	start := time.Now()
	deleted, err := s.DeleteStagedBefore(ctx, "acme", time.Now().Add(-24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("deleted %d documents in %v (%.0f/s)", deleted, time.Since(start), float64(deleted)/time.Since(start).Seconds())
	if want := int64(n - n/5); deleted != want {
		t.Errorf("deleted %d documents, want %d", deleted, want)
	}
	left, err := s.Count(ctx, "acme", staging.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if left != int64(n/5) {
		t.Errorf("%d documents left, want the %d recent ones", left, n/5)
	}
	providers, err := s.Providers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(providers, []string{"acme"}) {
		t.Errorf("Providers = %v", providers)
	}
}

func TestPayloadsAreStoredCompressedAndReadBackExactly(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	big := strings.Repeat(`{"campaignId":1,"name":"a fairly repetitive report row"},`, 200)
	small := `[{"id":1}]`
	gz := string([]byte{0x1f, 0x8b, 8, 0}) + strings.Repeat("x", 2000) // already encoded by the provider
	recs := []*sluicev1.Record{record("orders", "big", "r", time.Now(), big), record("orders", "small", "r", time.Now(), small)}
	enc := envelope.NewInline(envelope.Source{Provider: "acme", Dataset: "orders", SourceKey: "gz", ExtractedAt: time.Now(), ContentType: "application/json", ContentEncoding: "gzip"}, []byte(gz))
	recs = append(recs, enc)
	var docs []staging.Document
	for _, r := range recs {
		docs = append(docs, staging.FromRecord(r, "", time.Now()))
	}
	if res := s.Insert(ctx, "acme", docs); res.Inserted != 3 {
		t.Fatalf("insert: %+v", res)
	}
	var raw []struct {
		Key     string `bson:"source_key"`
		Codec   string `bson:"payload_codec"`
		Payload []byte `bson:"payload"`
	}
	cur, err := s.Collection("acme").Find(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	if err := cur.All(ctx, &raw); err != nil {
		t.Fatal(err)
	}
	stored := map[string]string{}
	for _, r := range raw {
		stored[r.Key] = r.Codec
		if r.Key == "big" && len(r.Payload) >= len(big)/4 {
			t.Errorf("big payload stored in %d bytes of %d", len(r.Payload), len(big))
		}
	}
	if stored["big"] != staging.CodecZstd || stored["small"] != "" || stored["gz"] != "" {
		t.Errorf("codecs %v: want zstd only for the large uncompressed payload", stored)
	}
	// Every way of reading gives the exact bytes back.
	for _, r := range recs {
		d, err := s.Get(ctx, "acme", r.GetId())
		if err != nil {
			t.Fatal(err)
		}
		if want := r.GetInline(); string(d.Payload) != string(want) {
			t.Errorf("%s: payload differs after the round trip", d.SourceKey)
		}
		if err := envelope.Validate(d.Record()); err != nil {
			t.Errorf("%s: %v", d.SourceKey, err)
		}
	}
	var viaDriver staging.Document
	if err := s.Collection("acme").FindOne(ctx, bson.D{{Key: "source_key", Value: "big"}}).Decode(&viaDriver); err != nil {
		t.Fatal(err)
	}
	if string(viaDriver.Payload) != big {
		t.Error("decoding with the driver into a Document does not decompress")
	}
}
