package main

import (
	"bytes"
	"encoding/json"
	"io"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/config"
	"github.com/sluice-dev/sluice/internal/spec"
	"github.com/sluice-dev/sluice/internal/staging"
)

func testSpec(provider, table string, pk ...string) *spec.Spec {
	return &spec.Spec{
		Provider: provider, Dataset: "items", Version: 1, Table: table,
		Columns: []spec.Column{
			{Name: "id", Type: spec.BigInt, Expr: "row.id"},
			{Name: "day", Type: spec.Date, Expr: "row.day"},
			{Name: "name", Type: spec.Text, Expr: "row.name"},
		},
		PrimaryKey: pk,
	}
}

func TestParseKey(t *testing.T) {
	t.Parallel()
	one, two := testSpec("demo", "t", "id"), testSpec("demo", "t", "id", "day")
	tests := []struct {
		name    string
		sp      *spec.Spec
		arg     string
		want    map[string]string
		wantErr string
	}{
		{"bare value", one, "7", map[string]string{"id": "7"}, ""},
		{"named value", one, "id=7", map[string]string{"id": "7"}, ""},
		{"value with = and , for a one-column key", testSpec("demo", "t", "name"), "a=b,c", map[string]string{"name": "a=b,c"}, ""},
		{"composite", two, "id=7,day=2024-06-01", map[string]string{"id": "7", "day": "2024-06-01"}, ""},
		{"composite, other order, spaces", two, "day=2024-06-01, id=7", map[string]string{"id": "7", "day": "2024-06-01"}, ""},
		{"composite given a bare value", two, "7", nil, "give id=…,day=…"},
		{"composite missing a column", two, "id=7,name=x", nil, `"day" is missing`},
		{"composite with one column", two, "id=7", nil, "give id=…,day=…"},
	}
	for _, tt := range tests {
		got, err := parseKey(tt.sp, tt.arg)
		switch {
		case tt.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: err %v, want one saying %q", tt.name, err, tt.wantErr)
			}
		case err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case !maps.Equal(got, tt.want):
			t.Errorf("%s: key %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestRowQuery(t *testing.T) {
	t.Parallel()
	q, args := rowQuery(testSpec("demo", "demo_items", "id", "day"), map[string]string{"id": "7", "day": "2024-06-01"})
	want := `SELECT to_jsonb(t)::text FROM "demo_items" AS t WHERE "id" = CAST($1::text AS bigint) AND "day" = CAST($2::text AS date)`
	if q != want || !slices.Equal(args, []any{"7", "2024-06-01"}) {
		t.Errorf("rowQuery = %s %v\nwant      %s [7 2024-06-01]", q, args, want)
	}
}

func TestSpecsOfTable(t *testing.T) {
	t.Parallel()
	a, b, other := testSpec("a", "shared", "id"), testSpec("b", "shared", "id"), testSpec("c", "other", "id")
	all := []*spec.Spec{a, b, other}
	if got, err := specsOfTable(all, "shared", ""); err != nil || len(got) != 2 {
		t.Errorf("shared table: %v %v, want both specs", got, err)
	}
	if got, err := specsOfTable(all, "shared", "b"); err != nil || len(got) != 1 || got[0] != b {
		t.Errorf("--provider b: %v %v", got, err)
	}
	if _, err := specsOfTable(all, "missing", ""); err == nil || !strings.Contains(err.Error(), "other, shared") {
		t.Errorf("unknown table: %v, want an error listing the known tables", err)
	}
	if _, err := specsOfTable([]*spec.Spec{a, testSpec("x", "shared", "id", "day")}, "shared", ""); err == nil {
		t.Error("specs that disagree on the key: no error")
	}
}

func TestParseInterleaved(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"demo_items", "7", "--json", "--jaeger-url", "http://j:16686"},
		{"--json", "demo_items", "--jaeger-url=http://j:16686", "7"},
		{"--jaeger-url", "http://j:16686", "--json", "demo_items", "7"},
	} {
		fs := config.NewFlagSet("t", func(string) string { return "" }, io.Discard)
		var asJSON bool
		var jaeger string
		fs.BoolVar(&asJSON, "json", "", false, "")
		fs.StringVar(&jaeger, "jaeger-url", "", "", "")
		pos, err := parseInterleaved(fs, args)
		if err != nil || !slices.Equal(pos, []string{"demo_items", "7"}) || !asJSON || jaeger != "http://j:16686" {
			t.Errorf("%q: positional %q json %v jaeger %q err %v", args, pos, asJSON, jaeger, err)
		}
	}
}

func sampleTrace(claimCheck bool) traceReport {
	sp := testSpec("demo", "demo_items", "id")
	row := map[string]any{
		"id": json.Number("7"), "day": "2024-06-01", "name": nil,
		"_record_id": "5f1d0c0a1f3b4e6f8a9b0c1d2e3f4a5b", "_trace_id": "0af7651916cd43dd8448eb211c80319c",
		"_extracted_at": "2024-06-01T10:00:00.5+00:00", "_loaded_at": "2024-06-01T10:00:02+00:00", "_data_version": nil,
	}
	c := traceConfig{Table: "demo_items", MongoDatabase: "sluice", JaegerURL: "http://127.0.0.1:16686/"}
	r := newTraceReport(c, sp, map[string]string{"id": "7"}, row)
	doc := &staging.Document{ID: r.RecordID, Provider: "demo", Dataset: "items", SourceKey: "day=2024-06-01/record=1",
		RunID: "run-1", ExtractedAt: time.Date(2024, 6, 1, 10, 0, 0, 5e8, time.UTC), StagedAt: time.Date(2024, 6, 1, 10, 0, 1, 0, time.UTC),
		ContentType: "application/json", Payload: []byte("[]"), Size: 412, SHA256: "ab12", TraceID: r.TraceID,
		Attributes: map[string]string{"record": "1", "day": "2024-06-01"}}
	if claimCheck {
		doc.Payload, doc.S3Bucket, doc.S3Key, doc.TraceID = nil, "claims", "claims/demo/items/run-1/abc", "11112222333344445555666677778888"
	}
	r.Raw = rawReportOf(doc, c, r.TraceID)
	return r
}

func TestTraceReport(t *testing.T) {
	t.Parallel()
	r := sampleTrace(false)
	if r.RecordID != "5f1d0c0a1f3b4e6f8a9b0c1d2e3f4a5b" || r.JaegerURL != "http://127.0.0.1:16686/trace/0af7651916cd43dd8448eb211c80319c" {
		t.Errorf("record id %q jaeger %q", r.RecordID, r.JaegerURL)
	}
	if _, ok := r.Row["_record_id"]; ok || len(r.Row) != 3 {
		t.Errorf("row keeps lineage columns or lost data columns: %v", r.Row)
	}
	if !r.Raw.Inline || r.Raw.S3 != nil || r.Raw.JaegerURL != "" {
		t.Errorf("inline document: %+v", r.Raw)
	}
	var b bytes.Buffer
	if err := renderTrace(&b, r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"row           demo_items id=7", "record id     5f1d0c0a1f3b4e6f8a9b0c1d2e3f4a5b",
		"jaeger        http://127.0.0.1:16686/trace/0af7651916cd43dd8448eb211c80319c",
		"collection   sluice.raw_demo", "source key   day=2024-06-01/record=1", "run id       run-1",
		"size         412 bytes", "sha256       ab12", "payload      inline", "attributes   day=2024-06-01, record=1",
		"  id                   7\n  day                  2024-06-01\n  name                 NULL\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, b.String())
		}
	}

	cc := sampleTrace(true)
	if cc.Raw.Inline || cc.Raw.S3 == nil || cc.Raw.S3.URI != "s3://claims/claims/demo/items/run-1/abc" {
		t.Errorf("claim check: %+v", cc.Raw)
	}
	if cc.Raw.JaegerURL != "http://127.0.0.1:16686/trace/11112222333344445555666677778888" {
		t.Errorf("staged in another trace: link %q", cc.Raw.JaegerURL)
	}
	size, ok := int64(2048), true
	cc.Raw.S3.Exists, cc.Raw.S3.Size, cc.Raw.S3.ETag = &ok, &size, "e1"
	b.Reset()
	if err := renderTrace(&b, cc); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"claim check s3://claims/claims/demo/items/run-1/abc (2048 bytes, etag e1)", "staged trace"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, b.String())
		}
	}
}

func TestTraceJSONShape(t *testing.T) {
	t.Parallel()
	data, err := json.Marshal(sampleTrace(true))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"table", "provider", "dataset", "key", "record_id", "trace_id", "jaeger_url", "extracted_at", "loaded_at", "row", "raw"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("trace JSON lacks %q: %s", k, data)
		}
	}
	raw := doc["raw"].(map[string]any)
	for _, k := range []string{"database", "collection", "id", "source_key", "run_id", "extracted_at", "staged_at", "size", "sha256", "inline", "s3", "trace_id"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("raw lacks %q: %v", k, raw)
		}
	}
	if s3 := raw["s3"].(map[string]any); s3["uri"] == nil || s3["exists"] != nil {
		t.Errorf("s3 before HEAD: %v", s3)
	}
}

func TestTraceReportShowsDataVersion(t *testing.T) {
	t.Parallel()
	sp := testSpec("demo", "demo_items", "id")
	row := map[string]any{"id": json.Number("7"), "_record_id": "r", "_extracted_at": "2024-06-01T10:00:00+00:00",
		"_data_version": json.Number("1733500000123456789")}
	r := newTraceReport(traceConfig{Table: "demo_items"}, sp, map[string]string{"id": "7"}, row)
	if r.DataVersion != "1733500000123456789" {
		t.Errorf("data version %q, want the exact bigint", r.DataVersion)
	}
	if _, ok := r.Row["_data_version"]; ok {
		t.Error("the lineage column stayed among the data columns")
	}
	var b bytes.Buffer
	if err := renderTrace(&b, r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "data version  1733500000123456789") {
		t.Errorf("render lacks the data version:\n%s", b.String())
	}
}
