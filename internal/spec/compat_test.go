package spec_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/sluice-dev/sluice/internal/spec"
)

func baseSpec(t *testing.T) *spec.Spec {
	t.Helper()
	s, err := spec.Parse([]byte(`{"provider":"p","dataset":"d","version":1,"table":"t","format":{"type":"ndjson"},
		"columns":[{"name":"id","type":"bigint","expr":"row.id"},{"name":"day","type":"date","expr":"row.day"},
		{"name":"cost","type":"numeric","expr":"row.cost","nullable":true}],"primary_key":["id","day"]}`))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCompatible(t *testing.T) {
	cases := []struct {
		name      string
		change    func(s *spec.Spec)
		breaking  bool
		what      string
		migration string
	}{
		{"add a column", func(s *spec.Spec) {
			s.Columns = append(s.Columns, spec.Column{Name: "clicks", Type: spec.BigInt, Expr: "row.clicks", Nullable: true})
		}, false, "column added", ""},
		{"change an expression", func(s *spec.Spec) { s.Columns[2].Expr = "row.spend" }, false, "expr", ""},
		{"refuse nulls", func(s *spec.Spec) { s.Columns[2].Nullable = false }, false, "nullable", ""},
		{"change a type", func(s *spec.Spec) { s.Columns[2].Type = spec.Text }, true, "type",
			`ALTER TABLE "t" ALTER COLUMN "cost" TYPE text USING "cost"::text;`},
		{"drop a column", func(s *spec.Spec) { s.Columns = s.Columns[:2] }, true, "column dropped",
			`ALTER TABLE "t" DROP COLUMN "cost";`},
		{"change the key", func(s *spec.Spec) { s.PrimaryKey = []string{"id"} }, true, "primary_key",
			`ALTER TABLE "t" DROP CONSTRAINT "t_pkey", ADD PRIMARY KEY ("id")`},
		{"move the table", func(s *spec.Spec) { s.Table = "t2" }, true, "table", `ALTER TABLE "t" RENAME TO "t2"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			prev, next := baseSpec(t), baseSpec(t)
			next.Version = 2
			c.change(next)
			if err := next.Validate(); err != nil {
				t.Fatalf("test spec invalid: %v", err)
			}
			changes := spec.Diff(prev, next)
			var found *spec.Change
			for i := range changes {
				if changes[i].What == c.what {
					found = &changes[i]
				}
			}
			if found == nil {
				t.Fatalf("no %q change in %v", c.what, changes)
			}
			if found.Breaking != c.breaking {
				t.Errorf("%v: breaking %v, want %v", found, found.Breaking, c.breaking)
			}
			err := spec.Compatible(prev, next)
			if c.breaking != (err != nil) {
				t.Fatalf("Compatible = %v, want breaking %v", err, c.breaking)
			}
			if err != nil {
				if !errors.Is(err, spec.ErrIncompatible) || !strings.Contains(err.Error(), c.migration) || !strings.Contains(err.Error(), found.Why) {
					t.Errorf("error %q lacks the explanation or the migration %q", err, c.migration)
				}
			}
		})
	}
}

func TestDiffOfEqualSpecsIsEmpty(t *testing.T) {
	if d := spec.Diff(baseSpec(t), baseSpec(t)); len(d) != 0 {
		t.Fatalf("diff of a spec with itself: %v", d)
	}
}
