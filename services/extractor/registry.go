package main

import (
	"github.com/sluice-dev/sluice/services/extractor/provider"
	"github.com/sluice-dev/sluice/services/extractor/providers"
	"github.com/sluice-dev/sluice/services/extractor/providers/amazonads"
	"github.com/sluice-dev/sluice/services/extractor/providers/demo"
	"github.com/sluice-dev/sluice/services/extractor/providers/rest"
)

// providers is the one list of providers this extractor can run: the Go providers, then
// one per manifest folder under providers/ (a declarative HTTP API run by providers/rest;
// adding one is adding a folder). A bad manifest fails the registry test and is reported
// by --provider's validation (manifestErr).
var providerList, manifestErr = registered()

func registered() ([]provider.Spec, error) {
	list := []provider.Spec{demo.Spec, amazonads.Spec}
	manifests, err := rest.Specs(providers.Folders)
	return append(list, manifests...), err
}

func lookup(name string) (provider.Spec, bool) {
	for _, p := range providerList {
		if p.Name == name {
			return p, true
		}
	}
	return provider.Spec{}, false
}

func names() []string {
	out := make([]string, len(providerList))
	for i, p := range providerList {
		out[i] = p.Name
	}
	return out
}
