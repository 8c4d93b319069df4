package main

import (
	"context"
	"os"
	"testing"

	"github.com/sluice-dev/sluice/services/extractor/provider/conformance"

	"github.com/sluice-dev/sluice/services/extractor/provider"
	"github.com/sluice-dev/sluice/services/extractor/providers/sqlcopy"
	"github.com/sluice-dev/sluice/services/extractor/providers/sqlcopy/sqlcopytest"
)

// sqlcopyCase gives the sqlcopy provider a source database of its own holding a
// composite-key table, copied in three partitions of small pages.
func sqlcopyCase(t *testing.T) conformance.Case {
	srcURL, conn := sqlcopytest.Source(t)
	ctx := context.Background()
	if err := sqlcopytest.Create(ctx, conn, sqlcopytest.Table{Name: "lines", Key: sqlcopytest.KeyComposite, Rows: 600}); err != nil {
		t.Fatal(err)
	}
	specFile, err := sqlcopytest.WriteSpec(ctx, conn, t.TempDir(), "public.lines", "lines", "conf_lines")
	if err != nil {
		t.Fatal(err)
	}
	inline, err := os.ReadFile(specFile) // the spec inline in the config, as Helm renders it
	if err != nil {
		t.Fatal(err)
	}
	return conformance.Case{
		Config: func(string) any {
			c := sqlcopy.DefaultConfig()
			c.Tables = []sqlcopy.Table{{Dataset: "lines", Source: "public.lines", Spec: inline, Partitions: 3}}
			c.Page.ProbeRows, c.Page.MaxRows = 50, 120
			return c
		},
		Env:     map[string]string{sqlcopy.EnvSourceURL: srcURL},
		Trigger: provider.Trigger{Source: "cli", From: daysAgo(1), To: daysAgo(1)},
	}
}
