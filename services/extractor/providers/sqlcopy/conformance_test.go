package sqlcopy_test

import (
	"testing"

	"github.com/sluice-dev/sluice/services/extractor/provider/conformance"
	"github.com/sluice-dev/sluice/services/extractor/providers/sqlcopy/sqlcopytest"
)

// TestConformance runs the provider conformance suite against a real source database.
func TestConformance(t *testing.T) {
	conformance.Run(t, sqlcopytest.ConformanceCase(t))
}
