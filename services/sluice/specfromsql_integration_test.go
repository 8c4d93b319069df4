package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/sluice-dev/sluice/internal/spec"
	"github.com/sluice-dev/sluice/schemas"
	"github.com/sluice-dev/sluice/services/extractor/providers/sqlcopy"
	"github.com/sluice-dev/sluice/services/extractor/providers/sqlcopy/sqlcopytest"
)

// TestSpecFromSQL generates the spec of a table with every mapped type from the source's
// catalog and checks its types, nullability and key.
func TestSpecFromSQL(t *testing.T) {
	srcURL, conn := sqlcopytest.Source(t)
	ctx := context.Background()
	if _, err := conn.Exec(ctx, `CREATE SCHEMA shop; CREATE TABLE shop."Orders" ("OrderId" bigint, line smallint, total numeric(12,2) NOT NULL,
		ratio real, paid boolean, tags text[], meta jsonb, doc json, blob bytea, placed timestamptz, local timestamp, day date,
		ref uuid, "order" text, PRIMARY KEY ("OrderId", line))`); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	getenv := func(k string) string { return map[string]string{sqlcopy.EnvSourceURL: srcURL}[k] }
	if err := run(ctx, []string{"spec", "from-sql", "--table", `shop.Orders`, "--dataset", "orders"}, getenv, &out, &errOut); err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	sp, err := spec.Parse(out.Bytes())
	if err != nil {
		t.Fatalf("generated spec does not parse: %v\n%s", err, out.String())
	}
	if err := schemas.ValidateDatasetSpec(out.Bytes()); err != nil {
		t.Fatalf("generated spec does not match the JSON Schema: %v", err)
	}
	if sp.Provider != "sqlcopy" || sp.Dataset != "orders" || sp.Table != "orders" || strings.Join(sp.PrimaryKey, ",") != "orderid,line" {
		t.Fatalf("spec %s/%s table %s key %v", sp.Provider, sp.Dataset, sp.Table, sp.PrimaryKey)
	}
	want := map[string]struct {
		typ      spec.Type
		nullable bool
	}{
		"orderid": {spec.BigInt, false}, "line": {spec.Integer, false}, "total": {spec.Numeric, false},
		"ratio": {spec.Double, true}, "paid": {spec.Boolean, true}, "tags": {spec.JSONB, true}, "meta": {spec.JSONB, true},
		"doc": {spec.JSONB, true}, "blob": {spec.Bytea, true}, "placed": {spec.TimestampTZ, true},
		"local": {spec.TimestampTZ, true}, "day": {spec.Date, true}, "ref": {spec.Text, true}, "order_value": {spec.Text, true},
	}
	if len(sp.Columns) != len(want) {
		t.Fatalf("%d columns, want %d", len(sp.Columns), len(want))
	}
	for _, c := range sp.Columns {
		w, ok := want[c.Name]
		if !ok || w.typ != c.Type || w.nullable != c.Nullable {
			t.Errorf("column %s: %s nullable=%v, want %+v", c.Name, c.Type, c.Nullable, w)
		}
	}

	// No source URL: the error names the variable, and no flag can pass it.
	err = run(ctx, []string{"spec", "from-sql", "--table", "shop.Orders"}, func(string) string { return "" }, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), sqlcopy.EnvSourceURL) {
		t.Fatalf("without a source URL: %v", err)
	}
	err = run(ctx, []string{"spec", "from-sql", "--table", "x", "--source-url", srcURL}, getenv, &out, &errOut)
	if err == nil {
		t.Fatal("--source-url was accepted: secrets must not come from flags")
	}
}
