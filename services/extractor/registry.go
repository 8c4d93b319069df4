package main

import (
	"github.com/sluice-dev/sluice/services/extractor/provider"
	folders "github.com/sluice-dev/sluice/services/extractor/providers"
	"github.com/sluice-dev/sluice/services/extractor/providers/amazonads"
	"github.com/sluice-dev/sluice/services/extractor/providers/demo"
	"github.com/sluice-dev/sluice/services/extractor/providers/portal"
	"github.com/sluice-dev/sluice/services/extractor/providers/rest"
	"github.com/sluice-dev/sluice/services/extractor/providers/s3objects"
	"github.com/sluice-dev/sluice/services/extractor/providers/sqlcopy"
)

// providers is the one list of providers this extractor can run: a Go provider is its
// folder under providers/ plus one line here; an HTTP API described by a manifest is its
// folder alone (providers/rest runs every providers/*/manifest.yaml as a provider of the
// folder's name).
var providers = append([]provider.Spec{demo.Spec, amazonads.Spec, s3objects.Spec, sqlcopy.Spec, portal.Spec},
	rest.MustSpecs(folders.Folders)...)
