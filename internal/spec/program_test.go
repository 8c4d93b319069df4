package spec_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/spec"
)

// evalColumn compiles a one-column spec with expr and evaluates it over row.
func evalColumn(t *testing.T, typ spec.Type, expr string, row map[string]any) (any, error) {
	t.Helper()
	s := validSpec()
	s.Columns = append(s.Columns, spec.Column{Name: "x", Type: typ, Expr: expr, Nullable: true})
	p, err := spec.Compile(s)
	if err != nil {
		t.Fatalf("Compile(%q): %v", expr, err)
	}
	ev := p.NewEvaluator(spec.Record{
		Provider: "amazonads", Dataset: "sp", SourceKey: "k", RunID: "r",
		ExtractedAt: time.Date(2022, 7, 6, 1, 2, 3, 0, time.UTC),
		Attributes:  map[string]string{"profileId": "42"},
	})
	ev.SetRow(row)
	return ev.Column(len(s.Columns) - 1)
}

func TestEvaluatorColumn(t *testing.T) {
	t.Parallel()
	row := map[string]any{
		"id": json.Number("158410630682987"), "cost": json.Number("14.50"), "big": json.Number("99999999999999999999"),
		"name": " Brand ", "date": "2022-07-05", "us": "07/05/2022 13:04", "nested": map[string]any{"a": []any{json.Number("1")}},
		"empty": "", "na": "N/A", "json": `{"k": [1, 2.50]}`, "null": nil,
	}
	date := time.Date(2022, 7, 5, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name string
		typ  spec.Type
		expr string
		want any
		err  string
	}{
		{"direct keeps json.Number", spec.Numeric, "row.cost", json.Number("14.50"), ""},
		{"index form is direct", spec.Numeric, `row["cost"]`, json.Number("14.50"), ""},
		{"direct big number", spec.Numeric, "row.big", json.Number("99999999999999999999"), ""},
		{"missing key", spec.Text, "row.nope", nil, "no such key: nope"},
		{"optional missing", spec.Text, "row.?nope.orValue(null)", nil, ""},
		{"optional present", spec.Text, "row.?name.orValue(null)", " Brand ", ""},
		{"optional default", spec.Text, "row.?nope.orValue('x')", "x", ""},
		{"json null", spec.Text, `row["null"]`, nil, ""},
		{"cel int", spec.BigInt, "row.id + 1", int64(158410630682988), ""},
		{"cel double", spec.Double, "double(row.cost) * 2.0", 29.0, ""},
		{"record attribute", spec.BigInt, "int(record.attributes.profileId)", int64(42), ""},
		{"record missing attribute", spec.BigInt, "record.attributes.nope", nil, "no such key: nope"},
		{"record time", spec.TimestampTZ, "record.extracted_at", time.Date(2022, 7, 6, 1, 2, 3, 0, time.UTC), ""},
		{"record fields", spec.Text, "record.provider + '/' + record.dataset + '/' + record.source_key + '/' + record.run_id", "amazonads/sp/k/r", ""},
		{"strings ext", spec.Text, "row.name.trim().lowerAscii()", "brand", ""},
		{"parse_date", spec.Date, "parse_date(row.date)", date, ""},
		{"parse_date bad", spec.Date, "parse_date(row.name)", nil, `cannot parse "Brand" as a date`},
		{"parse_timestamp layout", spec.TimestampTZ, "parse_timestamp(row.us, '01/02/2006 15:04')", time.Date(2022, 7, 5, 13, 4, 0, 0, time.UTC), ""},
		{"parse_timestamp", spec.TimestampTZ, "parse_timestamp('2022-07-05T10:00:00+02:00')", time.Date(2022, 7, 5, 8, 0, 0, 0, time.UTC), ""},
		{"decimal double", spec.Numeric, "decimal(0.1 + 0.2)", "0.30000000000000004", ""},
		{"decimal string", spec.Numeric, "decimal('+1.50')", "1.50", ""},
		{"decimal bad", spec.Numeric, "decimal('1,5')", nil, `cannot convert "1,5" to numeric`},
		{"nullif equal", spec.Text, "nullif(row.na, 'N/A')", nil, ""},
		{"nullif differs", spec.Text, "nullif(row.name, 'N/A')", " Brand ", ""},
		{"parse_json", spec.JSONB, "parse_json(row.json)", map[string]any{"k": []any{json.Number("1"), json.Number("2.50")}}, ""},
		{"parse_json bad", spec.JSONB, "parse_json(row.name)", nil, "parse_json: invalid character"},
		{"map literal", spec.JSONB, "{'a': 1, 'b': [true, null]}", map[string]any{"a": int64(1), "b": []any{true, nil}}, ""},
		{"nested from row", spec.JSONB, "row.nested", map[string]any{"a": []any{json.Number("1")}}, ""},
		{"comprehension", spec.BigInt, "row.nested.a.map(x, int(x) * 2)[0]", int64(2), ""},
		{"type error", spec.BigInt, "row.name + 1", nil, "no such overload"},
		{"division by zero", spec.BigInt, "1 / (row.id - row.id)", nil, "division by zero"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := evalColumn(t, tc.typ, tc.expr, row)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error = %v, want it to contain %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("error = %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v, want %#v", got, tc.want)
			}
		})
	}
}

func TestEvaluatorRule(t *testing.T) {
	t.Parallel()
	s := validSpec()
	s.Rules = []spec.Rule{
		{Expr: "out.cost >= 0.0 && row.cost != ''", Message: "m"},
		{Expr: "out.cost", Message: "dyn result checked per row"},
	}
	p, err := spec.Compile(s)
	if err != nil {
		t.Fatal(err)
	}
	ev := p.NewEvaluator(spec.Record{})
	ev.SetRow(map[string]any{"cost": "1"})
	ev.SetOut(map[string]any{"cost": 1.5})
	if ok, err := ev.Rule(0); !ok || err != nil {
		t.Errorf("Rule(0) = %v, %v; want true", ok, err)
	}
	ev.SetOut(map[string]any{"cost": -1.5})
	if ok, err := ev.Rule(0); ok || err != nil {
		t.Errorf("Rule(0) = %v, %v; want false", ok, err)
	}
	if _, err := ev.Rule(1); err == nil || !strings.Contains(err.Error(), "want bool") {
		t.Errorf("Rule(1) error = %v, want a type error", err)
	}
}

// TestCostLimit checks that a quadratic comprehension fails instead of running for long.
func TestCostLimit(t *testing.T) {
	t.Parallel()
	list := make([]any, 5000)
	for i := range list {
		list[i] = json.Number("1")
	}
	_, err := evalColumn(t, spec.BigInt, "size(row.l.filter(a, row.l.exists(b, int(b) > 1)))", map[string]any{"l": list})
	if err == nil || !strings.Contains(err.Error(), "cost limit") {
		t.Fatalf("error = %v, want the cost limit", err)
	}
}

func TestCache(t *testing.T) {
	t.Parallel()
	c := spec.NewCache()
	s1 := validSpec()

	var wg sync.WaitGroup
	progs := make([]*spec.Program, 8)
	for i := range progs {
		wg.Go(func() {
			p, err := c.Compile(s1)
			if err != nil {
				t.Error(err)
			}
			progs[i] = p
		})
	}
	wg.Wait()
	for _, p := range progs[1:] {
		if p != progs[0] {
			t.Fatal("concurrent Compile of one version returned different programs")
		}
	}

	changed := validSpec()
	changed.Columns[3].Type = spec.Double
	if _, err := c.Compile(changed); !errors.Is(err, spec.ErrVersionConflict) {
		t.Errorf("same version, other content: error = %v, want ErrVersionConflict", err)
	}

	bad := validSpec()
	bad.Version = 2
	bad.Columns[3].Expr = "rwo"
	if _, err := c.Compile(bad); !errors.Is(err, spec.ErrInvalid) {
		t.Errorf("invalid spec: error = %v, want ErrInvalid", err)
	}
	fixed := validSpec()
	fixed.Version = 2
	if _, err := c.Compile(fixed); err != nil {
		t.Errorf("a fixed spec with the version of a failed one: %v", err)
	}

	for v := int64(3); v <= 5; v++ {
		s := validSpec()
		s.Version = v
		if _, err := c.Compile(s); err != nil {
			t.Fatal(err)
		}
	}
	// Version 1 was evicted, so other content for it compiles now.
	if _, err := c.Compile(changed); err != nil {
		t.Errorf("evicted version: %v", err)
	}
}

func TestRawFields(t *testing.T) {
	t.Parallel()
	jsonb := func(name, expr string) spec.Column {
		return spec.Column{Name: name, Type: spec.JSONB, Expr: expr, Nullable: true}
	}
	for _, c := range []struct {
		name  string
		cols  []spec.Column
		rules []spec.Rule
		want  []string
	}{
		{"copied objects", []spec.Column{jsonb("doc", "row.doc"), jsonb("meta", `row["meta"]`), jsonb("opt", "row.?opt.orValue(null)")}, nil, []string{"doc", "meta", "opt"}},
		{"also looked into", []spec.Column{jsonb("doc", "row.doc"), {Name: "n", Type: spec.BigInt, Expr: "size(row.doc.items)"}}, nil, nil},
		{"tested by has", []spec.Column{jsonb("doc", "row.doc"), {Name: "b", Type: spec.Boolean, Expr: "has(row.doc)"}}, nil, nil},
		{"read by a rule", []spec.Column{jsonb("doc", "row.doc")}, []spec.Rule{{Name: "r", Expr: "size(row.doc) > 0", Message: "empty"}}, nil},
		{"also copied as text", []spec.Column{jsonb("doc", "row.doc"), {Name: "t", Type: spec.Text, Expr: "row.doc"}}, nil, nil},
		{"the whole row used", []spec.Column{jsonb("doc", "row.doc"), jsonb("whole", "row")}, nil, nil},
		{"a key column", []spec.Column{jsonb("doc", "row.doc"), {Name: "k", Type: spec.JSONB, Expr: "row.k"}}, nil, []string{"doc"}},
		{"another field looked into", []spec.Column{jsonb("doc", "row.doc"), {Name: "n", Type: spec.BigInt, Expr: "size(row.other)"}}, nil, []string{"doc"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := validSpec()
			s.Columns = append(s.Columns, c.cols...)
			s.Rules = append(s.Rules, c.rules...)
			if c.name == "a key column" {
				s.PrimaryKey = append(s.PrimaryKey, "k")
			}
			p, err := spec.Compile(s)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.RawFields(); !reflect.DeepEqual(got, c.want) {
				t.Errorf("RawFields = %q, want %q", got, c.want)
			}
		})
	}
}
