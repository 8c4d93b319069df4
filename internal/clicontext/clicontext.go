// Package clicontext keeps named sets of SLUICE_* settings for the sluice CLI, like nats
// contexts.
package clicontext

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// A context is a named set of SLUICE_* settings in <config dir>/contexts/<name>.env (one
// KEY=VALUE per line), like a nats context: `make infra-up` writes "local" for the local
// servers, `make demo` writes "demo" (the demo's databases) and selects it. The CLI reads
// the selected one (file <config dir>/current, or SLUICE_CONTEXT) under its environment:
// a flag wins over a variable, which wins over the context, which wins over the default.

// Dir is SLUICE_CONFIG_DIR, else $XDG_CONFIG_HOME/sluice, else ~/.config/sluice.
func Dir(getenv func(string) string) string {
	if d := getenv("SLUICE_CONFIG_DIR"); d != "" {
		return d
	}
	if d := getenv("XDG_CONFIG_HOME"); d != "" {
		return filepath.Join(d, "sluice")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".config", "sluice")
}

// Current names the selected context ("" when none).
func Current(getenv func(string) string) string {
	if n := getenv("SLUICE_CONTEXT"); n != "" {
		return n
	}
	b, err := os.ReadFile(filepath.Join(Dir(getenv), "current"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// Load reads a context file.
func Load(getenv func(string) string, name string) (map[string]string, error) {
	path := filepath.Join(Dir(getenv), "contexts", name+".env")
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("context %q: %w", name, err)
	}
	defer f.Close()
	vals := map[string]string{}
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		k, v, ok := strings.Cut(text, "=")
		if !ok || !strings.HasPrefix(k, "SLUICE_") {
			return nil, fmt.Errorf("%s:%d: want SLUICE_NAME=value", path, line)
		}
		vals[k] = v
	}
	return vals, sc.Err()
}

// Getenv returns getenv falling back to the selected context. A context selected by
// SLUICE_CONTEXT that does not exist is an error; a missing current file is no context.
func Getenv(getenv func(string) string) (func(string) string, error) {
	name := Current(getenv)
	if name == "" {
		return getenv, nil
	}
	vals, err := Load(getenv, name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && getenv("SLUICE_CONTEXT") == "" {
			return getenv, nil
		}
		return nil, err
	}
	return func(k string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return vals[k]
	}, nil
}

// List returns the names of the saved contexts.
func List(getenv func(string) string) []string {
	files, _ := filepath.Glob(filepath.Join(Dir(getenv), "contexts", "*.env"))
	names := make([]string, 0, len(files))
	for _, f := range files {
		names = append(names, strings.TrimSuffix(filepath.Base(f), ".env"))
	}
	sort.Strings(names)
	return names
}

// Save writes context name with vals and selects it.
func Save(getenv func(string) string, name string, vals map[string]string, comment string) error {
	dir := Dir(getenv)
	if err := os.MkdirAll(filepath.Join(dir, "contexts"), 0o700); err != nil {
		return err
	}
	keys := make([]string, 0, len(vals))
	for k := range vals {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n", comment)
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%s\n", k, vals[k])
	}
	if err := os.WriteFile(filepath.Join(dir, "contexts", name+".env"), []byte(b.String()), 0o600); err != nil {
		return err
	}
	return Use(getenv, name)
}

// Use selects context name.
func Use(getenv func(string) string, name string) error {
	if _, err := Load(getenv, name); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(Dir(getenv), "current"), []byte(name+"\n"), 0o600)
}
