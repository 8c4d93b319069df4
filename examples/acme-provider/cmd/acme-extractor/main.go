// Command acme-extractor is the Acme team's own extractor binary: sluice's extractor
// service built with the Acme provider. Its image runs as the chart's extractor for
// provider "acme" (providers.acme.image in the Helm values).
package main

import (
	"example.com/acme-provider/acme"
	"github.com/sluice-dev/sluice/services/extractor/extractor"
)

func main() { extractor.Main(acme.Spec) }
