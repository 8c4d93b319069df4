// Command bench runs sluice's benchmarks against the real local servers and the
// simulators, prints each figure as `BENCH <name> <value>` and writes them all to
// .bench/results.json. BENCH_SCALE=small gives a quick run. Figures are ratios against a
// baseline measured in the same run, because these machines are noisy.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
)

// Result is one figure.
type Result struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
}

// Env is what a suite gets.
type Env struct {
	// Small is true under BENCH_SCALE=small.
	Small bool
	// Root is the repository root; Bin holds freshly built binaries.
	Root, Bin string
	// Emit reports a figure as soon as it is measured.
	Emit func(name string, value float64)
	// Logf prints progress to stderr.
	Logf func(format string, args ...any)
}

// Suite is a named group of benchmarks.
type Suite struct {
	Name string
	Run  func(ctx context.Context, env *Env) error
	// Explicit suites run only when -only names them.
	Explicit bool
}

// suites is the list `make bench` runs, in order.
var suites = []Suite{
	loadSuite,
	extractSuite,
	catalogSuite,
	chaosSuite,
	transferSuite,
	sqlcopySuite,
	portalSuite,
	peersSuite,
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run() error {
	only := flag.String("only", "", "comma-separated suites to run (default all)")
	out := flag.String("out", ".bench/results.json", "results file")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	root, err := os.Getwd()
	if err != nil {
		return err
	}
	for ; ; root = filepath.Dir(root) {
		if _, err := os.Stat(filepath.Join(root, "go.work")); err == nil {
			break
		}
		if filepath.Dir(root) == root {
			return fmt.Errorf("run bench inside the repository")
		}
	}
	bin, err := os.MkdirTemp("", "sluice-bench-bin")
	if err != nil {
		return err
	}
	defer os.RemoveAll(bin)

	var results []Result
	env := &Env{
		Small: os.Getenv("BENCH_SCALE") == "small",
		Root:  root,
		Bin:   bin,
		Emit: func(name string, value float64) {
			fmt.Printf("BENCH %s %g\n", name, value)
			results = append(results, Result{Name: name, Value: value})
		},
		Logf: func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) },
	}
	want := map[string]bool{}
	for _, s := range strings.Split(*only, ",") {
		if s != "" {
			want[s] = true
		}
	}
	var failed []string
	for _, s := range suites {
		if len(want) > 0 && !want[s.Name] || len(want) == 0 && s.Explicit {
			continue
		}
		env.Logf("== suite %s", s.Name)
		if err := s.Run(ctx, env); err != nil {
			env.Logf("suite %s failed: %v", s.Name, err)
			failed = append(failed, s.Name)
		}
	}
	if err := os.MkdirAll(filepath.Dir(filepath.Join(root, *out)), 0o755); err != nil {
		return err
	}
	data, err := json.MarshalIndent(map[string]any{"scale": map[bool]string{true: "small", false: "full"}[env.Small], "results": results}, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(root, *out), data, 0o644); err != nil {
		return err
	}
	if len(failed) > 0 {
		return fmt.Errorf("suites failed: %s", strings.Join(failed, ", "))
	}
	return nil
}
