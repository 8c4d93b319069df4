package main

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluice-dev/sluice/internal/config"
	"github.com/sluice-dev/sluice/internal/specstore"
)

// checkProvider refuses a provider no extractor has registered: its tasks would wait on
// TASKS for a consumer that never comes (a case mismatch is the usual cause). Extractors
// register their providers' dataset specs when they start.
func checkProvider(ctx context.Context, js jetstream.JetStream, name string) error {
	store, err := specstore.Open(ctx, js)
	if err != nil {
		return err
	}
	specs, err := store.List(ctx)
	if err != nil {
		return err
	}
	var known []string
	for _, s := range specs {
		if !slices.Contains(known, s.Provider) {
			known = append(known, s.Provider)
		}
	}
	if slices.Contains(known, name) {
		return nil
	}
	slices.Sort(known)
	hint := ""
	for _, k := range known {
		if strings.EqualFold(k, name) {
			hint = fmt.Sprintf(" (did you mean %s?)", k)
		}
	}
	if len(known) == 0 {
		return config.Usagef("unknown provider %q: no extractor has registered a provider yet (start one with --provider %s)", name, name)
	}
	return config.Usagef("unknown provider %q%s; known providers: %s", name, hint, strings.Join(known, ", "))
}
