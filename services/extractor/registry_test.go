package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-dev/sluice/services/extractor/extractor"
)

// TestRegistry builds the extractor with the registered providers (it refuses duplicates
// and incomplete entries) and checks that each provider's folder runs the conformance
// suite: a provider is its folder, with its conformance case, plus one registry line.
func TestRegistry(t *testing.T) {
	_ = extractor.Program(providers...)
	for _, sp := range providers {
		tests, _ := filepath.Glob(filepath.Join("providers", sp.Name, "*_test.go"))
		found := false
		for _, f := range tests {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			found = found || strings.Contains(string(b), "conformance.Run(")
		}
		if !found {
			t.Errorf("provider %s: no test in providers/%s runs conformance.Run", sp.Name, sp.Name)
		}
	}
}
