package sqlcopytest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/services/extractor/provider"
	"github.com/sluice-dev/sluice/services/extractor/provider/conformance"
	"github.com/sluice-dev/sluice/services/extractor/providers/sqlcopy"
)

// ConformanceCase gives the sqlcopy provider a source database of the test's own holding
// a composite-key table, copied in three partitions of small pages, with its spec inline
// in the config (as the Helm chart renders it).
func ConformanceCase(t *testing.T) conformance.Case {
	srcURL, conn := Source(t)
	ctx := context.Background()
	if err := Create(ctx, conn, Table{Name: "lines", Key: KeyComposite, Rows: 600}); err != nil {
		t.Fatal(err)
	}
	specFile, err := WriteSpec(ctx, conn, t.TempDir(), "public.lines", "lines", "conf_lines")
	if err != nil {
		t.Fatal(err)
	}
	inline, err := os.ReadFile(specFile)
	if err != nil {
		t.Fatal(err)
	}
	day := time.Now().UTC().AddDate(0, 0, -1).Truncate(24 * time.Hour)
	return conformance.Case{
		Spec: sqlcopy.Spec,
		Config: func(string) any {
			c := sqlcopy.DefaultConfig()
			c.Tables = []sqlcopy.Table{{Dataset: "lines", Source: "public.lines", Spec: inline, Partitions: 3}}
			c.Page.ProbeRows, c.Page.MaxRows = 50, 120
			return c
		},
		Env:     map[string]string{sqlcopy.EnvSourceURL: srcURL},
		Trigger: provider.Trigger{Source: "cli", From: day, To: day},
	}
}
