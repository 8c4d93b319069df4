// Package scaffold writes the folder of a new provider: Go code that plans and runs tasks
// through the SDK's rate-governed client, a dataset spec, a README and a test, so a provider
// team starts from code that builds, registers and passes the conformance suite.
package scaffold

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"go/format"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"
)

//go:embed templates/*.tmpl
var templates embed.FS

// namePattern keeps provider names usable as Go package names, NATS subject tokens,
// collection names and table prefixes at once.
var namePattern = regexp.MustCompile(`^[a-z][a-z0-9]{1,30}$`)

// ErrExists is returned when the provider's folder already exists.
var ErrExists = errors.New("provider folder already exists")

// Provider writes the folder of provider name under dir (e.g.
// services/extractor/providers) and returns the paths it wrote.
func Provider(dir, name string) ([]string, error) {
	if !namePattern.MatchString(name) {
		return nil, fmt.Errorf("provider name %q: want 2-31 lowercase letters and digits, starting with a letter (it becomes a Go package, a subject token and a table prefix)", name)
	}
	target := filepath.Join(dir, name)
	if _, err := os.Stat(target); err == nil {
		return nil, fmt.Errorf("%w: %s", ErrExists, target)
	}
	files := map[string]string{
		name + ".go":          "provider.go.tmpl",
		"config.go":           "config.go.tmpl",
		"datasets/items.json": "items.json.tmpl",
		"README.md":           "README.md.tmpl",
		name + "_test.go":     "provider_test.go.tmpl",
	}
	data := struct{ Name, Title string }{Name: name, Title: strings.ToUpper(name[:1]) + name[1:]}
	var written []string
	for out, tmpl := range files {
		t, err := template.ParseFS(templates, "templates/"+tmpl)
		if err != nil {
			return written, fmt.Errorf("template %s: %w", tmpl, err)
		}
		var buf bytes.Buffer
		if err := t.Execute(&buf, data); err != nil {
			return written, fmt.Errorf("render %s: %w", tmpl, err)
		}
		content := buf.Bytes()
		if strings.HasSuffix(out, ".go") {
			if content, err = format.Source(content); err != nil {
				return written, fmt.Errorf("format %s: %w", out, err)
			}
		}
		path := filepath.Join(target, out)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return written, err
		}
		if err := os.WriteFile(path, content, 0o644); err != nil {
			return written, err
		}
		written = append(written, path)
	}
	return written, nil
}

// RegistryLine is the line to add to the extractor's provider list.
func RegistryLine(name string) string { return name + ".Spec" }
