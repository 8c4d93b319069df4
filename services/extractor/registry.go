package main

import (
	"github.com/sluice-dev/sluice/services/extractor/provider"
	"github.com/sluice-dev/sluice/services/extractor/providers/amazonads"
	"github.com/sluice-dev/sluice/services/extractor/providers/demo"
	"github.com/sluice-dev/sluice/services/extractor/providers/s3objects"
	"github.com/sluice-dev/sluice/services/extractor/providers/sqlcopy"
)

// providers is the one list of providers this extractor can run: a provider is its folder
// under providers/ plus one line here.
var providers = []provider.Spec{demo.Spec, amazonads.Spec, s3objects.Spec, sqlcopy.Spec}
