package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/spec"
)

// TestSpecPushReplayLoop is the "fix the parser, re-apply to downloaded data" loop: a new
// spec version pushed by the CLI is picked up by the running transformer and re-applied to
// staged data by replay, with no provider; a breaking version is refused with its migration.
func TestSpecPushReplayLoop(t *testing.T) {
	p := startPipeline(t)
	provider, table := p.dataset()
	t1 := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	p.publishRaw(provider, "page=1", "run-a", t1, `[{"id":1,"name":"one","quantity":1,"price":"1.50"},{"id":2,"name":"two","quantity":2}]`)
	p.waitRows("SELECT id, name, quantity FROM "+table+" ORDER BY id", [][]string{{"1", "one", "1"}, {"2", "two", "2"}})

	dir := t.TempDir()
	write := func(name string, sp *spec.Spec) string {
		data, err := json.Marshal(sp)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}

	// Version 2: upper-case names, and the price column.
	v2 := itemsSpec(t, provider, table, 2)
	v2.Columns[1].Expr = "row.name.upperAscii()"
	v2.Columns[3].Expr = "row.?price.orValue(null)"
	v2Path := write("v2.json", v2)
	out := p.mustCLI("spec", "diff", v2Path)
	for _, want := range []string{"version 1 → 2", `column added "price"`, `expr "name": row.name → row.name.upperAscii()`} {
		if !strings.Contains(out, want) {
			t.Errorf("spec diff does not say %q:\n%s", want, out)
		}
	}
	if out := p.mustCLI("spec", "push", v2Path); !strings.Contains(out, "version 2 registered") {
		t.Fatalf("spec push: %s", out)
	}
	if out := p.mustCLI("spec", "push", v2Path); !strings.Contains(out, "already registered") {
		t.Errorf("a second push of the same version: %s", out)
	}
	p.mustCLI("replay", "--provider", provider, "--dataset", "items")
	p.waitRows("SELECT id, name, coalesce(price::text, 'NULL') FROM "+table+" ORDER BY id", [][]string{{"1", "ONE", "1.50"}, {"2", "TWO", "NULL"}})

	// Version 3 changes a type: refused, with the migration, and nothing registered.
	v3 := *v2
	v3.Columns = append([]spec.Column(nil), v2.Columns...)
	v3.Version = 3
	v3.Columns[2].Type = spec.Text
	v3Path := write("v3.json", &v3)
	_, errOut, err := p.cli("spec", "push", v3Path)
	if err == nil || !strings.Contains(errOut, `ALTER TABLE "`+table+`" ALTER COLUMN "quantity" TYPE text`) || !strings.Contains(errOut, "--migrated") {
		t.Fatalf("a type change was not refused with its migration: %v\n%s", err, errOut)
	}
	if out := p.mustCLI("spec", "diff", v3Path); !strings.Contains(out, "version 2 → 3") || !strings.Contains(out, `type "quantity": integer → text (breaking)`) {
		t.Fatalf("after the refused push, diff against the registered version says:\n%s", out)
	}
	// Migrated by hand, it goes through.
	if _, err := p.pool.Exec(t.Context(), `ALTER TABLE `+table+` ALTER COLUMN quantity TYPE text USING quantity::text`); err != nil {
		t.Fatal(err)
	}
	if out := p.mustCLI("spec", "push", v3Path, "--migrated"); !strings.Contains(out, "version 3 registered") {
		t.Fatalf("push --migrated: %s", out)
	}
}
