package main

import (
	"github.com/sluice-dev/sluice/services/extractor/provider"
	"github.com/sluice-dev/sluice/services/extractor/providers/amazonads"
	"github.com/sluice-dev/sluice/services/extractor/providers/demo"
	"github.com/sluice-dev/sluice/services/extractor/providers/portal"
)

// providers is the one list of providers this extractor can run.
var providers = []provider.Spec{demo.Spec, amazonads.Spec, portal.Spec}

func lookup(name string) (provider.Spec, bool) {
	for _, p := range providers {
		if p.Name == name {
			return p, true
		}
	}
	return provider.Spec{}, false
}

func names() []string {
	out := make([]string, len(providers))
	for i, p := range providers {
		out[i] = p.Name
	}
	return out
}
