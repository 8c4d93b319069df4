package schemas_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-dev/sluice/internal/spec"
	"github.com/sluice-dev/sluice/schemas"
)

// shippedSpecs are the dataset specs in the repository: providers' and golden cases'.
func shippedSpecs(t *testing.T) []string {
	t.Helper()
	var all []string
	for _, pattern := range []string{
		"../services/extractor/providers/*/datasets/*.json",
		"../services/extractor/providers/*/items.json",
		"../internal/transform/testdata/*/spec.json",
	} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, m...)
	}
	if len(all) < 3 {
		t.Fatalf("found only %v", all)
	}
	return all
}

// TestShippedSpecsMatchSchema: the schema accepts every spec sluice itself ships, so it is
// no stricter than the spec parser on real specs.
func TestShippedSpecsMatchSchema(t *testing.T) {
	for _, path := range shippedSpecs(t) {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := spec.Parse(data); err != nil {
			t.Errorf("%s: spec.Parse: %v", path, err)
		}
		if err := schemas.ValidateDatasetSpec(data); err != nil {
			t.Errorf("%s: schema: %v", path, err)
		}
	}
}

// TestSchemaNamesThePath: a bad field is reported with its JSON path, by the schema and
// by the parser.
func TestSchemaNamesThePath(t *testing.T) {
	const good = `{"provider":"p","dataset":"d","version":1,"table":"t","format":{"type":"ndjson"},
		"columns":[{"name":"id","type":"bigint","expr":"row.id"},{"name":"v","type":"text","expr":"row.v","nullable":true}],
		"primary_key":["id"]}`
	if err := schemas.ValidateDatasetSpec([]byte(good)); err != nil {
		t.Fatalf("good spec refused: %v", err)
	}
	cases := []struct {
		name, from, to, path string
	}{
		{"unknown type", `"type":"text"`, `"type":"txt"`, "/columns/1/type"},
		{"missing expr", `,"expr":"row.v"`, ``, "/columns/1"},
		{"version zero", `"version":1`, `"version":0`, "/version"},
		{"unknown field", `"table":"t"`, `"table":"t","tabel":"x"`, "/"},
		{"bad format", `"type":"ndjson"`, `"type":"xml"`, "/format/type"},
		{"upper-case table", `"table":"t"`, `"table":"T"`, "/table"},
		{"lineage column", `"name":"v"`, `"name":"_loaded_at"`, "/columns/1/name"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			bad := strings.Replace(good, c.from, c.to, 1)
			if bad == good {
				t.Fatalf("case does not change the spec")
			}
			err := schemas.ValidateDatasetSpec([]byte(bad))
			if err == nil {
				t.Fatalf("schema accepted %s", bad)
			}
			if !strings.Contains(err.Error(), c.path+":") {
				t.Errorf("error %q does not name %s", err, c.path)
			}
			if _, err := spec.Parse([]byte(bad)); err == nil {
				t.Errorf("spec.Parse accepted what the schema refuses: %s", bad)
			}
		})
	}
}

// TestSchemaKnowsEveryColumnType: every type the spec parser accepts is in the schema.
func TestSchemaKnowsEveryColumnType(t *testing.T) {
	for _, typ := range spec.Types() {
		doc := `{"provider":"p","dataset":"d","version":1,"table":"t","format":{"type":"ndjson"},
			"columns":[{"name":"id","type":"bigint","expr":"row.id"},{"name":"v","type":"` + string(typ) + `","expr":"row.v","nullable":true}],
			"primary_key":["id"]}`
		if err := schemas.ValidateDatasetSpec([]byte(doc)); err != nil {
			t.Errorf("type %s refused by the schema: %v", typ, err)
		}
	}
}
