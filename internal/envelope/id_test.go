package envelope

import (
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	sluicev1 "github.com/sluice-dev/sluice/proto/sluice/v1"
)

func sum(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }

func TestRecordIDDeterministicAndDistinct(t *testing.T) {
	t.Parallel()
	base := RecordID("amazonads", "spCampaigns", "profile=1/2024-06-01", sum("payload"))
	if len(base) != 32 {
		t.Fatalf("id %q: want 32 hex chars", base)
	}
	if again := RecordID("amazonads", "spCampaigns", "profile=1/2024-06-01", sum("payload")); again != base {
		t.Fatalf("same input gave %s then %s", base, again)
	}
	cases := []struct {
		name                        string
		provider, dataset, key, pay string
	}{
		{"other provider", "other", "spCampaigns", "profile=1/2024-06-01", "payload"},
		{"other dataset", "amazonads", "spAdGroups", "profile=1/2024-06-01", "payload"},
		{"other source key", "amazonads", "spCampaigns", "profile=2/2024-06-01", "payload"},
		{"other payload", "amazonads", "spCampaigns", "profile=1/2024-06-01", "payload2"},
		{"field boundary moved", "amazonadss", "pCampaigns", "profile=1/2024-06-01", "payload"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if id := RecordID(c.provider, c.dataset, c.key, sum(c.pay)); id == base {
				t.Fatalf("%s: collided with base id %s", c.name, id)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	src := Source{Provider: "demo", Dataset: "items", SourceKey: "k", RunID: "r", ExtractedAt: time.Unix(1700000000, 0), ContentType: "application/json"}
	good := func() *sluicev1.Record { return NewInline(src, []byte(`[{"id":1}]`)) }
	cases := []struct {
		name   string
		mutate func(*sluicev1.Record)
		ok     bool
	}{
		{"valid", func(*sluicev1.Record) {}, true},
		{"tampered payload", func(r *sluicev1.Record) { r.Payload = &sluicev1.Record_Inline{Inline: []byte(`[{"id":2}]`)} }, false},
		{"wrong id", func(r *sluicev1.Record) { r.Id = "00000000000000000000000000000000" }, false},
		{"bad provider", func(r *sluicev1.Record) { r.Provider = "a.b" }, false},
		{"empty source key", func(r *sluicev1.Record) { r.SourceKey = "" }, false},
		{"no payload", func(r *sluicev1.Record) { r.Payload = nil }, false},
		{"no extracted_at", func(r *sluicev1.Record) { r.ExtractedAt = nil }, false},
		{"claim check without key", func(r *sluicev1.Record) {
			r.Payload = &sluicev1.Record_ClaimCheck{ClaimCheck: &sluicev1.ClaimCheck{Bucket: "b"}}
		}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := good()
			c.mutate(r)
			err := Validate(r)
			if c.ok && err != nil {
				t.Fatalf("want valid, got %v", err)
			}
			if !c.ok && !errors.Is(err, ErrInvalid) {
				t.Fatalf("want ErrInvalid, got %v", err)
			}
		})
	}
}

func TestClaimCheckRecordKeepsContentHash(t *testing.T) {
	t.Parallel()
	src := Source{Provider: "demo", Dataset: "items", SourceKey: "k", ExtractedAt: time.Now()}
	inline := NewInline(src, []byte("big payload"))
	cc := NewClaimCheck(src, &sluicev1.ClaimCheck{Bucket: "b", Key: "k", Size: 11, Sha256: sum("big payload")})
	if inline.GetId() != cc.GetId() {
		t.Fatalf("the same bytes inline (%s) and claim-checked (%s) must share the record id", inline.GetId(), cc.GetId())
	}
	if err := Validate(cc); err != nil {
		t.Fatal(err)
	}
}
