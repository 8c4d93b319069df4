package staging

import (
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/envelope"
)

// TestDocumentKeepsDataVersion: a replayed record (rebuilt from its document) orders its
// rows by the same data version as the first load.
func TestDocumentKeepsDataVersion(t *testing.T) {
	t.Parallel()
	for _, v := range []int64{0, 1733500000123456789, -5} {
		rec := envelope.NewInline(envelope.Source{Provider: "acme", Dataset: "orders", SourceKey: "k", ExtractedAt: time.Now(), DataVersion: v}, []byte("[]"))
		if got := FromRecord(rec, "", time.Now()).Record().GetDataVersion(); got != v {
			t.Errorf("data version %d came back as %d", v, got)
		}
	}
}
