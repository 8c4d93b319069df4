package sqlcopy

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/spec"

	"github.com/klauspost/compress/zstd"
)

func TestPageQuery(t *testing.T) {
	t.Parallel()
	info := &TableInfo{Schema: "s", Name: "t", Columns: []Column{
		{Name: "a", DataType: "integer", UDT: "int4"}, {Name: "b", DataType: "text", UDT: "text"},
		{Name: "tags", DataType: "ARRAY", UDT: "_text"}, {Name: "j", DataType: "json", UDT: "json"},
	}}
	key := []Column{info.Columns[0], info.Columns[1]}
	cases := []struct {
		name, dialect string
		after, upTo   []string
		want          string
		args          []any
	}{
		{"whole range", DialectPostgres, nil, nil,
			`SELECT "a", "b", to_jsonb("tags"), "j"::jsonb FROM "s"."t" WHERE (x > 0) ORDER BY "a", "b" LIMIT 10`, nil},
		{"row values", DialectPostgres, []string{"1", "x"}, []string{"9", "z"},
			`SELECT "a", "b", to_jsonb("tags"), "j"::jsonb FROM "s"."t" WHERE (x > 0) AND ("a", "b") > (CAST($1::text AS "int4"), CAST($2::text AS "text")) AND ("a", "b") <= (CAST($3::text AS "int4"), CAST($4::text AS "text")) ORDER BY "a", "b" LIMIT 10`,
			[]any{"1", "x", "9", "z"}},
		{"prefix is inclusive", DialectPostgres, []string{"1"}, nil,
			`SELECT "a", "b", to_jsonb("tags"), "j"::jsonb FROM "s"."t" WHERE (x > 0) AND "a" >= CAST($1::text AS "int4") ORDER BY "a", "b" LIMIT 10`,
			[]any{"1"}},
		{"redshift expands", DialectRedshift, []string{"1", "x"}, []string{"9", "z"},
			`SELECT "a", "b", to_jsonb("tags"), "j"::jsonb FROM "s"."t" WHERE (x > 0) AND (("a" > CAST($1::text AS "int4")) OR ("a" = CAST($1::text AS "int4") AND "b" > CAST($2::text AS "text"))) AND (("a" < CAST($3::text AS "int4")) OR ("a" = CAST($3::text AS "int4") AND "b" < CAST($4::text AS "text")) OR ("a" = CAST($3::text AS "int4") AND "b" = CAST($4::text AS "text"))) ORDER BY "a", "b" LIMIT 10`,
			[]any{"1", "x", "9", "z"}},
	}
	for _, tc := range cases {
		q := newQuery(info, info.Columns, key, "x > 0", tc.dialect)
		got, args := q.page(tc.after, tc.upTo, 10)
		if got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
		if !reflect.DeepEqual(args, tc.args) {
			t.Errorf("%s: args %v, want %v", tc.name, args, tc.args)
		}
	}
}

func TestAppendValue(t *testing.T) {
	t.Parallel()
	cases := []struct {
		k    kind
		in   []byte
		want string
	}{
		{kindText, nil, `null`},
		{kindText, []byte("a\"b\\c\n\t\x01é"), `"a\"b\\c\n\t\u0001é"`},
		{kindText, []byte{'a', 0xff, 'b'}, `"a\ufffdb"`},
		{kindInt, []byte("-42"), `-42`},
		{kindFloat, []byte("1.5e-07"), `1.5e-07`},
		{kindFloat, []byte("NaN"), `"NaN"`},
		{kindFloat, []byte("-Infinity"), `"-Infinity"`},
		{kindNumeric, []byte("12345678901234567890.1230"), `12345678901234567890.1230`},
		{kindNumeric, []byte("NaN"), `"NaN"`},
		{kindBool, []byte("t"), `true`},
		{kindBool, []byte("f"), `false`},
		{kindJSON, []byte(`{"a": [1, null]}`), `{"a": [1, null]}`},
		{kindBytea, []byte(`\x00ff`), `"\\x00ff"`},
		{kindDate, []byte("2024-02-29"), `"2024-02-29"`},
		{kindTimestampTZ, []byte("2024-01-02 03:04:05.123456+00"), `"2024-01-02T03:04:05.123456Z"`},
		{kindTimestampTZ, []byte("2024-01-02 03:04:05+00"), `"2024-01-02T03:04:05Z"`},
		{kindTimestamp, []byte("2024-01-02 03:04:05.5"), `"2024-01-02T03:04:05.5"`},
		{kindTimestampTZ, []byte("infinity"), `"infinity"`},
	}
	for _, tc := range cases {
		got := string(appendValue(nil, tc.k, tc.in))
		if got != tc.want {
			t.Errorf("appendValue(%d, %q) = %s, want %s", tc.k, tc.in, got, tc.want)
		}
		if !json.Valid([]byte(got)) {
			t.Errorf("appendValue(%d, %q) = %s: not JSON", tc.k, tc.in, got)
		}
	}
}

func TestPageWritesNDJSONAndVersion(t *testing.T) {
	t.Parallel()
	cols := []Column{{Name: "id", DataType: "bigint"}, {Name: "updated_at", DataType: "timestamp with time zone"}, {Name: "n", DataType: "text"}}
	p := newPage(cols, "updated_at")
	for _, r := range [][][]byte{
		{[]byte("1"), []byte("2024-01-01 00:00:00+00"), nil},
		{[]byte("2"), []byte("2024-01-02 00:00:00.5+00"), []byte("x")},
	} {
		if err := p.add(r); err != nil {
			t.Fatal(err)
		}
	}
	body, err := p.finish()
	if err != nil {
		t.Fatal(err)
	}
	zr, err := zstd.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	text, _ := io.ReadAll(zr)
	want := "{\"id\":1,\"updated_at\":\"2024-01-01T00:00:00Z\",\"n\":null}\n{\"id\":2,\"updated_at\":\"2024-01-02T00:00:00.5Z\",\"n\":\"x\"}\n"
	if string(text) != want {
		t.Fatalf("page =\n%s\nwant\n%s", text, want)
	}
	if p.Rows != 2 || p.Bytes != int64(len(want)) {
		t.Errorf("rows %d bytes %d, want 2 and %d", p.Rows, p.Bytes, len(want))
	}
	if v := time.Date(2024, 1, 2, 0, 0, 0, 5e8, time.UTC).UnixNano(); p.MaxVersion != v {
		t.Errorf("version %d, want %d", p.MaxVersion, v)
	}
	p.reset()
	if err := p.add([][]byte{[]byte("3"), []byte("not a time"), nil}); err == nil {
		t.Error("a version column that is not a timestamp was accepted")
	}
}

func TestIntSplit(t *testing.T) {
	t.Parallel()
	cases := []struct {
		lo, hi string
		parts  int
		want   [][]string
	}{
		{"1", "100", 4, [][]string{{"25"}, {"50"}, {"75"}}},
		{"-10", "9", 2, [][]string{{"-1"}}},
		{"5", "6", 4, [][]string{{"5"}}},
		{"7", "7", 3, nil},
		{"-9223372036854775808", "9223372036854775807", 2, [][]string{{"-1"}}},
	}
	for _, tc := range cases {
		got, err := intSplit(tc.lo, tc.hi, tc.parts)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("intSplit(%s, %s, %d) = %v, %v; want %v", tc.lo, tc.hi, tc.parts, got, err, tc.want)
		}
	}
	if _, err := intSplit("a", "2", 2); err == nil {
		t.Error("a non-integer bound was accepted")
	}
}

func TestBudget(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(s string) string {
		path := filepath.Join(dir, strings.ReplaceAll(s, "\n", "")+".max")
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	if got := memoryLimit(write("536870912\n")); got != 512<<20 {
		t.Errorf("memoryLimit = %d, want 512 MiB", got)
	}
	if got := memoryLimit(write("max\n")); got != 0 {
		t.Errorf("memoryLimit(max) = %d, want 0", got)
	}
	if got := memoryLimit(filepath.Join(dir, "missing")); got != 0 {
		t.Errorf("memoryLimit(missing) = %d, want 0", got)
	}
	p := DefaultConfig().Page
	cases := []struct {
		page  Page
		limit int64
		want  int64
	}{
		{p, 0, defaultPageBytes},
		{p, 512 << 20, 16 << 20}, // 512 MiB × 0.25 / 8
		{p, 8 << 20, minPageBytes},
		{p, 64 << 30, maxPageBytes},
		{Page{MemoryBytes: 300 << 10}, 512 << 20, 300 << 10},
	}
	for _, tc := range cases {
		if got := pageBudget(tc.page, tc.limit); got != tc.want {
			t.Errorf("pageBudget(%+v, %d) = %d, want %d", tc.page, tc.limit, got, tc.want)
		}
	}
	// 1000 bytes a row at twice the mean: 8 MiB holds 4194 rows.
	if got := pageRows(8<<20, 200_000, 200, 50_000); got != 4194 {
		t.Errorf("pageRows = %d, want 4194", got)
	}
	if got := pageRows(1<<20, 100<<20, 10, 50_000); got != 1 {
		t.Errorf("pageRows of huge rows = %d, want 1", got)
	}
	if got := pageRows(1<<30, 1000, 100, 500); got != 500 {
		t.Errorf("pageRows of tiny rows = %d, want max_rows 500", got)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	ok := func() *Config {
		c := DefaultConfig()
		c.Tables = []Table{{Dataset: "d", Source: "public.t", SpecFile: "d.json"}}
		return c
	}
	cases := []struct {
		name   string
		change func(c *Config)
		want   string
	}{
		{"valid", func(*Config) {}, ""},
		{"no tables", func(c *Config) { c.Tables = nil }, "tables"},
		{"dialect", func(c *Config) { c.Dialect = "mysql" }, "dialect"},
		{"concurrency", func(c *Config) { c.Concurrency = 0 }, "concurrency"},
		{"timeout", func(c *Config) { c.StatementTimeout = "soon" }, "statement_timeout"},
		{"fraction", func(c *Config) { c.Page.MemoryFraction = 1.5 }, "memory_fraction"},
		{"source", func(c *Config) { c.Tables[0].Source = "a.b.c" }, "source"},
		{"no spec", func(c *Config) { c.Tables[0].SpecFile = "" }, "one of spec_file and spec"},
		{"two specs", func(c *Config) { c.Tables[0].Spec = json.RawMessage(`{}`) }, "one of spec_file and spec"},
		{"inline spec", func(c *Config) { c.Tables[0].SpecFile, c.Tables[0].Spec = "", json.RawMessage(`{}`) }, ""},
		{"twice", func(c *Config) { c.Tables = append(c.Tables, c.Tables[0]) }, "configured twice"},
		{"mode", func(c *Config) { c.Tables[0].Mode = "incremental" }, "needs incremental"},
		{"filter", func(c *Config) { c.Tables[0].Filter = "1=1; DROP TABLE t" }, "filter"},
	}
	for _, tc := range cases {
		c := ok()
		tc.change(c)
		err := c.Validate()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: Validate() = %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestSecretFromFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "url")
	if err := os.WriteFile(path, []byte("postgres://u:p@h/db\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{EnvSourceURL + "_FILE": path}
	got, err := secret(func(k string) string { return env[k] }, EnvSourceURL)
	if err != nil || got != "postgres://u:p@h/db" {
		t.Fatalf("secret = %q, %v", got, err)
	}
	env[EnvSourceURL] = "postgres://direct"
	if got, _ := secret(func(k string) string { return env[k] }, EnvSourceURL); got != "postgres://direct" {
		t.Fatalf("the variable itself should win over its file, got %q", got)
	}
}

func TestGenerateSpec(t *testing.T) {
	t.Parallel()
	info := &TableInfo{Schema: "public", Name: "Orders", PrimaryKey: []string{"Id"}, Columns: []Column{
		{Name: "Id", DataType: "bigint"}, {Name: "total", DataType: "numeric", Nullable: true},
		{Name: "tags", DataType: "ARRAY", Nullable: true}, {Name: "blob", DataType: "bytea", Nullable: true},
		{Name: "at", DataType: "timestamp without time zone"}, {Name: "small", DataType: "smallint"},
		{Name: "in", DataType: "uuid"}, {Name: "ratio", DataType: "real"},
	}}
	s, err := GenerateSpec(info, "orders", "", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.Table != "orders" || s.Format.Type != spec.NDJSON || !reflect.DeepEqual(s.PrimaryKey, []string{"id"}) {
		t.Fatalf("spec %s format %s key %v", s.Table, s.Format.Type, s.PrimaryKey)
	}
	want := []spec.Column{
		{Name: "id", Type: spec.BigInt, Expr: "row.Id"},
		{Name: "total", Type: spec.Numeric, Expr: "row.total", Nullable: true},
		{Name: "tags", Type: spec.JSONB, Expr: "row.tags", Nullable: true},
		{Name: "blob", Type: spec.Bytea, Expr: "row.blob", Nullable: true},
		{Name: "at", Type: spec.TimestampTZ, Expr: "row.at"},
		{Name: "small", Type: spec.Integer, Expr: "row.small"},
		{Name: "in_value", Type: spec.Text, Expr: `row["in"]`},
		{Name: "ratio", Type: spec.Double, Expr: "row.ratio"},
	}
	if !reflect.DeepEqual(s.Columns, want) {
		t.Fatalf("columns\n got %+v\nwant %+v", s.Columns, want)
	}
	if _, err := spec.Compile(s); err != nil {
		t.Fatalf("generated spec does not compile: %v", err)
	}
	if _, err := GenerateSpec(&TableInfo{Schema: "s", Name: "t", Columns: info.Columns}, "d", "", nil, nil); err == nil {
		t.Error("a table without primary key got a spec")
	}
}
