package deploytest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// kubeVersion is the API server k8s-tools.sh builds; helm renders for it.
const kubeVersion = "v1.36.3"

// valueSet is a values file of the chart (none: the defaults) and what it must render.
type valueSet struct {
	name string
	file string // relative to helm/sluice; "" for the chart defaults
	// providers whose extractor must run: exactly one Deployment each, no other extractor.
	providers []string
	// keda maps each Deployment (name after the release's full name) that KEDA scales to
	// the stream/consumer its triggers read, joined by " + " (extractors also wake on
	// their provider's events); nil: no ScaledObject at all.
	keda           map[string]string
	serviceMonitor bool
	simulator      bool
	networkPolicy  bool
	pdb            bool
	// existingSecrets the values name: referenced, never rendered.
	existingSecrets []string
	// images are the container images of extractors (by provider) that the values set.
	images map[string]string
}

// valueSets must cover every helm/sluice/ci/*.yaml (TestValueSetsCoverCIFiles).
var valueSets = []valueSet{
	{name: "default", networkPolicy: true, pdb: true},
	{name: "minimal", file: "ci/minimal-values.yaml", providers: []string{"amazonads"}, networkPolicy: true},
	{
		name: "production", file: "ci/production-values.yaml",
		providers: []string{"amazonads", "sqlbackfill", "s3objects", "acme"},
		images: map[string]string{
			"acme":      "ghcr.io/acme-data/acme-extractor:0.3.0",
			"amazonads": "registry.example.com/data/sluice/sluice-extractor:1.4.2",
		},
		keda: map[string]string{
			"staging-store":         "RAW/staging-store",
			"transformer":           "STAGED/transformer",
			"loader":                "ROWS/loader",
			"extractor-amazonads":   "TASKS/extractor-amazonads + EVENTS/extractor-amazonads",
			"extractor-sqlbackfill": "TASKS/extractor-sqlbackfill + EVENTS/extractor-sqlbackfill",
			"extractor-acme":        "TASKS/extractor-acme + EVENTS/extractor-acme",
		},
		serviceMonitor: true, networkPolicy: true, pdb: true,
		existingSecrets: []string{"sluice-postgres", "sluice-mongo", "sluice-s3", "sluice-amazonads", "sluice-sqlbackfill", "registry-example-com"},
	},
	{name: "demo", file: "ci/demo-values.yaml", providers: []string{"amazonads"}, simulator: true, networkPolicy: true, pdb: true},
}

// release is the name every test renders the chart under; fullname is then "sluice".
const release = "sluice"

func chartDir(t testing.TB) string { return filepath.Join(repoRoot(t), "helm", "sluice") }

// runHelm runs helm with args and returns stdout, or an error holding stderr.
func runHelm(t testing.TB, args ...string) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, helm(t), args...)
	cmd.Dir = repoRoot(t)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("helm %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes(), nil
}

// templateArgs renders the chart for namespace ns with the value files (relative to the
// chart) and extra args.
func templateArgs(t testing.TB, ns string, files []string, extra ...string) []string {
	args := []string{"template", release, chartDir(t), "--namespace", ns, "--kube-version", kubeVersion}
	for _, f := range files {
		if !filepath.IsAbs(f) {
			f = filepath.Join(chartDir(t), f)
		}
		args = append(args, "--values", f)
	}
	return append(args, extra...)
}

// object is one rendered manifest.
type object map[string]any

func (o object) kind() string       { s, _ := o["kind"].(string); return s }
func (o object) apiVersion() string { s, _ := o["apiVersion"].(string); return s }
func (o object) name() string       { s, _ := o.get("metadata", "name").(string); return s }
func (o object) id() string         { return o.kind() + "/" + o.name() }

// get walks nested maps by key; nil when a key is missing.
func (o object) get(keys ...string) any {
	var cur any = map[string]any(o)
	for _, k := range keys {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[k]
	}
	return cur
}

func (o object) labels() map[string]any {
	m, _ := o.get("metadata", "labels").(map[string]any)
	return m
}

// render runs helm template and decodes every document.
func render(t testing.TB, ns string, files []string, extra ...string) []object {
	t.Helper()
	out, err := runHelm(t, templateArgs(t, ns, files, extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decodeManifests(out)
	if err != nil {
		t.Fatalf("decode helm template output: %v\n%s", err, out)
	}
	if len(objs) == 0 {
		t.Fatal("helm template rendered no objects")
	}
	return objs
}

func decodeManifests(data []byte) ([]object, error) {
	var objs []object
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, err
		}
		if doc == nil {
			continue
		}
		o := object(doc)
		if o.kind() == "" || o.apiVersion() == "" || o.name() == "" {
			return nil, fmt.Errorf("a document lacks apiVersion, kind or metadata.name: %v", doc)
		}
		objs = append(objs, o)
	}
}

func byKind(objs []object, kind string) []object {
	var out []object
	for _, o := range objs {
		if o.kind() == kind {
			out = append(out, o)
		}
	}
	return out
}

func names(objs []object) []string {
	out := make([]string, 0, len(objs))
	for _, o := range objs {
		out = append(out, o.name())
	}
	sort.Strings(out)
	return out
}

func (v valueSet) files() []string {
	if v.file == "" {
		return nil
	}
	return []string{v.file}
}

// namespace of a value set's dry run; one per set so their objects cannot collide.
func (v valueSet) namespace() string { return "sluice-" + v.name }
