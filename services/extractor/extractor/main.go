// Package extractor is the extractor service: it runs one provider (--provider) out of the
// ones it is built with, registers the provider's dataset specs, takes its tasks off the
// TASKS stream and publishes raw records to RAW. A provider team builds its own extractor
// binary and image from its own module with one line:
//
//	func main() { extractor.Main(acme.Spec) }
package extractor

import (
	"fmt"

	"github.com/sluice-dev/sluice/internal/service"
	"github.com/sluice-dev/sluice/services/extractor/provider"
)

// Main runs the extractor with providers and exits; it is meant to be the only statement of
// an extractor's main.
func Main(providers ...provider.Spec) { service.Main(Program(providers...)) }

// Program is the extractor as a function of its command line, environment and output, for
// tests that run it without a process. It panics on a registry that is not valid (a
// programming error, caught by the first test that builds one).
func Program(providers ...provider.Spec) service.RunFunc {
	r := registry(providers)
	if err := r.check(); err != nil {
		panic(err)
	}
	return r.run
}

// registry is the list of providers an extractor binary is built with.
type registry []provider.Spec

func (r registry) check() error {
	seen := map[string]bool{}
	for _, p := range r {
		if p.Name == "" || p.New == nil || p.NewConfig == nil || seen[p.Name] {
			return fmt.Errorf("extractor: provider %q needs a unique name, New and NewConfig", p.Name)
		}
		seen[p.Name] = true
	}
	if len(r) == 0 {
		return fmt.Errorf("extractor: no providers")
	}
	return nil
}

func (r registry) lookup(name string) (provider.Spec, bool) {
	for _, p := range r {
		if p.Name == name {
			return p, true
		}
	}
	return provider.Spec{}, false
}

func (r registry) names() []string {
	out := make([]string, len(r))
	for i, p := range r {
		out[i] = p.Name
	}
	return out
}
