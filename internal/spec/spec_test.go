package spec_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/sluice-dev/sluice/internal/spec"
)

// validSpec returns a small valid spec that tests modify.
func validSpec() *spec.Spec {
	return &spec.Spec{
		Provider: "amazonads",
		Dataset:  "sp_campaigns_daily",
		Version:  1,
		Table:    "amazonads_sp_campaigns_daily",
		Format:   spec.Format{Type: spec.JSONArray},
		Columns: []spec.Column{
			{Name: "profile_id", Type: spec.BigInt, Expr: "record.attributes.profileId"},
			{Name: "campaign_id", Type: spec.BigInt, Expr: "row.campaignId"},
			{Name: "date", Type: spec.Date, Expr: "row.date"},
			{Name: "cost", Type: spec.Numeric, Expr: "row.cost"},
			{Name: "name", Type: spec.Text, Expr: "row.?campaignName.orValue(null)", Nullable: true},
		},
		PrimaryKey: []string{"profile_id", "campaign_id", "date"},
		Rules:      []spec.Rule{{Name: "cost", Expr: "out.cost >= 0.0", Message: "cost is negative"}},
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	f := false
	cases := []struct {
		name   string
		modify func(s *spec.Spec)
		want   []string // substrings of the error, each naming its field; none: valid
	}{
		{"valid", func(*spec.Spec) {}, nil},
		{"provider", func(s *spec.Spec) { s.Provider = "amazon ads" }, []string{`provider: "amazon ads": must start with a letter`}},
		{"dataset", func(s *spec.Spec) { s.Dataset = "" }, []string{`dataset: "": must start`}},
		{"version", func(s *spec.Spec) { s.Version = 0 }, []string{"version: must be at least 1, got 0"}},
		{"table upper", func(s *spec.Spec) { s.Table = "Campaigns" }, []string{`table: "Campaigns": must be lowercase snake case`}},
		{"table long", func(s *spec.Spec) { s.Table = strings.Repeat("a", 64) }, []string{"table: ", "is 64 bytes long, at most 63"}},
		{"no columns", func(s *spec.Spec) { s.Columns = nil; s.PrimaryKey = nil; s.Rules = nil },
			[]string{"columns: at least one column is required", "primary_key: at least one column is required"}},
		{"column name", func(s *spec.Spec) { s.Columns[1].Name = "1campaign" }, []string{`columns[1].name: "1campaign": must be lowercase snake case`}},
		{"lineage name", func(s *spec.Spec) { s.Columns[4].Name = "_record_id" }, []string{`columns[4].name: "_record_id" is reserved for the lineage columns`}},
		{"leading underscore", func(s *spec.Spec) { s.Columns[4].Name = "_name" }, []string{`columns[4].name: "_name": must be lowercase snake case`}},
		{"reserved word", func(s *spec.Spec) { s.Columns[4].Name = "order" }, []string{`columns[4].name: "order" is a reserved word in Postgres`}},
		{"duplicate column", func(s *spec.Spec) { s.Columns[4].Name = "cost" }, []string{`columns[4].name: "cost" already declared by columns[3]`}},
		{"unknown type", func(s *spec.Spec) { s.Columns[3].Type = "money" }, []string{`columns[3].type: unknown type "money"; want one of text, bigint`}},
		{"empty expr", func(s *spec.Spec) { s.Columns[2].Expr = " " }, []string{"columns[2].expr: is required"}},
		{"undeclared reference", func(s *spec.Spec) { s.Columns[3].Expr = "rwo.cost" }, []string{"columns[3].expr: undeclared reference to 'rwo'"}},
		{"syntax error", func(s *spec.Spec) { s.Columns[3].Expr = "row.cost +" }, []string{"columns[3].expr: Syntax error"}},
		{"out in column", func(s *spec.Spec) { s.Columns[3].Expr = "out.cost" }, []string{"columns[3].expr: undeclared reference to 'out'"}},
		{"result type", func(s *spec.Spec) { s.Columns[2].Expr = "row.date == ''" }, []string{"columns[2].expr: has type bool, which cannot be converted to date"}},
		{"always null", func(s *spec.Spec) { s.Columns[3].Expr = "null" }, []string{`columns[3].expr: is always null but column "cost" is not nullable`}},
		{"unknown function", func(s *spec.Spec) { s.Columns[2].Expr = "parse_dat(row.date)" }, []string{"columns[2].expr: undeclared reference to 'parse_dat'"}},
		{"wrong arg type", func(s *spec.Spec) { s.Columns[2].Expr = "parse_date(1)" }, []string{"columns[2].expr: found no matching overload for 'parse_date' applied to '(int)'"}},
		{"key not declared", func(s *spec.Spec) { s.PrimaryKey[1] = "dat" }, []string{`primary_key[1]: column "dat" not declared`}},
		{"key twice", func(s *spec.Spec) { s.PrimaryKey[2] = "profile_id" }, []string{`primary_key[2]: column "profile_id" listed twice`}},
		{"key nullable", func(s *spec.Spec) { s.Columns[2].Nullable = true }, []string{`primary_key[2]: column "date" is nullable; key columns must not be`}},
		{"rule type", func(s *spec.Spec) { s.Rules[0].Expr = "out.cost" }, nil}, // dyn: checked per row
		{"rule not bool", func(s *spec.Spec) { s.Rules[0].Expr = "1 + 1" }, []string{"rules[0].expr: has type int, want bool"}},
		{"rule out typo", func(s *spec.Spec) { s.Rules[0].Expr = "out.cots >= 0.0" }, []string{`rules[0].expr: out.cots: column "cots" not declared`}},
		{"rule out index typo", func(s *spec.Spec) { s.Rules[0].Expr = "out['cots'] >= 0.0" }, []string{`rules[0].expr: out.cots: column "cots" not declared`}},
		{"rule message", func(s *spec.Spec) { s.Rules[0].Message = "" }, []string{"rules[0].message: is required"}},
		{"rule names", func(s *spec.Spec) { s.Rules = append(s.Rules, s.Rules[0]) }, []string{`rules[1].name: "cost" already used by rules[0]`}},
		{"format type", func(s *spec.Spec) { s.Format.Type = "xml" }, []string{`format.type: unknown format "xml"`}},
		{"format missing", func(s *spec.Spec) { s.Format.Type = "" }, []string{"format.type: is required"}},
		{"path on csv", func(s *spec.Spec) { s.Format = spec.Format{Type: spec.CSV, Path: "a"} }, []string{"format.path: applies to json_array only, not csv"}},
		{"path empty key", func(s *spec.Spec) { s.Format.Path = "a..b" }, []string{`format.path: "a..b": empty key`}},
		{"delimiter on json", func(s *spec.Spec) { s.Format.Delimiter = ";" }, []string{"format.delimiter: applies to csv only, not json_array"}},
		{"delimiter long", func(s *spec.Spec) { s.Format = spec.Format{Type: spec.CSV, Delimiter: ";;"} }, []string{`format.delimiter: ";;": must be exactly one character`}},
		{"delimiter quote", func(s *spec.Spec) { s.Format = spec.Format{Type: spec.CSV, Delimiter: `"`} }, []string{`format.delimiter: '"' cannot be used`}},
		{"comment is delimiter", func(s *spec.Spec) { s.Format = spec.Format{Type: spec.CSV, Comment: ","} }, []string{"format.comment: equals the delimiter"}},
		{"no header no fields", func(s *spec.Spec) { s.Format = spec.Format{Type: spec.CSV, Header: &f} }, []string{"format.fields: is required when header is false"}},
		{"duplicate fields", func(s *spec.Spec) { s.Format = spec.Format{Type: spec.CSV, Fields: []string{"a", "a"}} }, []string{`format.fields[1]: "a" already used by format.fields[0]`}},
		{"table id and index", func(s *spec.Spec) { s.Format = spec.Format{Type: spec.HTMLTable, TableIndex: 1, TableID: "x"} }, []string{"format.table_id: set together with table_index"}},
		{"max row bytes", func(s *spec.Spec) { s.Format.MaxRowBytes = 1 << 30 }, []string{"format.max_row_bytes: must be between 0"}},
		{"several", func(s *spec.Spec) { s.Version = -1; s.Columns[3].Expr = "rwo"; s.PrimaryKey[1] = "dat" },
			[]string{"version: must be at least 1", "columns[3].expr: undeclared reference to 'rwo'", `primary_key[1]: column "dat" not declared`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := validSpec()
			tc.modify(s)
			err := s.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want %q", tc.want)
			}
			if !errors.Is(err, spec.ErrInvalid) {
				t.Errorf("error does not match ErrInvalid: %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
			var fe *spec.FieldError
			if !errors.As(err, &fe) || fe.Field == "" {
				t.Errorf("error is not a *FieldError naming a field: %v", err)
			}
		})
	}
}

func TestParse(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, json, want string
	}{
		{"unknown field", `{"provider":"p","primary_keys":["a"]}`, `unknown field "primary_keys"`},
		{"trailing data", `{} {}`, "unexpected data after the spec object"},
		{"not json", `provider: p`, "parse spec: invalid character"},
		{"invalid", `{"provider":"p"}`, "dataset: "},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := spec.Parse([]byte(tc.json))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse() error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestPostgresType(t *testing.T) {
	t.Parallel()
	want := map[spec.Type]string{
		spec.Text: "text", spec.BigInt: "bigint", spec.Integer: "integer", spec.Double: "double precision",
		spec.Numeric: "numeric", spec.Boolean: "boolean", spec.Date: "date", spec.TimestampTZ: "timestamptz", spec.JSONB: "jsonb",
		spec.Bytea: "bytea",
	}
	for _, typ := range spec.Types() {
		if got := typ.PostgresType(); got != want[typ] {
			t.Errorf("%s.PostgresType() = %q, want %q", typ, got, want[typ])
		}
	}
	if got := spec.Type("money").PostgresType(); got != "" {
		t.Errorf("unknown type gives %q, want \"\"", got)
	}
}

func TestKey(t *testing.T) {
	t.Parallel()
	if got := validSpec().Key(); got != "amazonads.sp_campaigns_daily" {
		t.Errorf("Key() = %q", got)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"provider":"p","dataset":"d","version":1,"table":"t","format":{"type":"csv"},"columns":[{"name":"a","type":"text","expr":"row.a"}],"primary_key":["a"]}`))
	f.Add([]byte(`{"columns":[{"name":"a","type":"bigint","expr":"row.a.map(x, x * 2)"}],"rules":[{"expr":"out.a > 0","message":"m"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := spec.Parse(data)
		if err != nil {
			return
		}
		if _, err := spec.Compile(s); err != nil {
			t.Fatalf("Parse accepted a spec that Compile refuses: %v", err)
		}
	})
}
