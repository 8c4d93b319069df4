package demo_test

import (
	"testing"
	"time"

	"github.com/sluice-dev/sluice/services/extractor/provider"
	"github.com/sluice-dev/sluice/services/extractor/provider/conformance"
	"github.com/sluice-dev/sluice/services/extractor/providers/demo"
)

func TestConformance(t *testing.T) {
	day := time.Now().UTC().AddDate(0, 0, -1).Truncate(24 * time.Hour)
	conformance.Run(t, conformance.Case{Spec: demo.Spec, Trigger: provider.Trigger{Source: "cli", From: day, To: day}})
}
