package deploytest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestServerSideDryRun submits every object each value set renders (hooks included) to the
// real kube-apiserver with dryRun=All and fieldValidation=Strict: the server defaults,
// validates and admits it exactly as on install, and stores nothing.
func TestServerSideDryRun(t *testing.T) {
	t.Parallel()
	k := apiServer(t)
	installFixtures(t, k)
	for _, v := range valueSets {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			ns := v.namespace()
			if err := k.apply(ctx, map[string]any{
				"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": ns},
			}, ""); err != nil {
				t.Fatalf("create namespace %s: %v", ns, err)
			}
			objs := render(t, ns, v.files())
			for _, o := range objs {
				warnings, err := k.dryRunCreate(ctx, o, ns)
				if err != nil {
					t.Errorf("%s: %v", o.id(), err)
					continue
				}
				for _, w := range warnings {
					t.Errorf("%s: the API server warns: %s", o.id(), w)
				}
			}
			t.Logf("%d objects accepted by %s", len(objs), k.base)
		})
	}
}

// TestDryRunCatchesInvalidObjects proves the dry run is not a rubber stamp: a misspelt field,
// a malformed value and a value that fails validation are rejected.
func TestDryRunCatchesInvalidObjects(t *testing.T) {
	t.Parallel()
	k := apiServer(t)
	installFixtures(t, k)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ns := "sluice-negative"
	if err := k.apply(ctx, map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": ns}}, ""); err != nil {
		t.Fatal(err)
	}
	objs := render(t, ns, nil)
	base := deployment(objs, release+"-loader")
	if base == nil {
		t.Fatal("no loader Deployment")
	}
	so := object{
		"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
		"metadata": map[string]any{"name": "bad"},
		"spec": map[string]any{
			"scaleTargetRef": map[string]any{"name": "x"},
			"triggers":       []any{map[string]any{"type": "nats-jetstream", "metadata": map[string]any{}, "lagTreshold": "1"}},
		},
	}
	cases := map[string]func() object{
		"unknown field": func() object {
			d := clone(base)
			podSpec(d)["containers"].([]any)[0].(map[string]any)["livenesProbe"] = map[string]any{}
			return d
		},
		"invalid value": func() object {
			d := clone(base)
			podSpec(d)["containers"].([]any)[0].(map[string]any)["resources"] = map[string]any{"limits": map[string]any{"cpu": "lots"}}
			return d
		},
		"failed validation": func() object {
			d := clone(base)
			d["spec"].(map[string]any)["replicas"] = -1
			return d
		},
		"unknown ScaledObject field": func() object { return so },
	}
	for name, mk := range cases {
		if _, err := k.dryRunCreate(ctx, mk(), ns); err == nil {
			t.Errorf("%s: the API server accepted the object", name)
		} else {
			t.Logf("%s: rejected as expected: %v", name, err)
		}
	}
}

func clone(o object) object {
	var cp func(any) any
	cp = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			m := make(map[string]any, len(x))
			for k, e := range x {
				m[k] = cp(e)
			}
			return m
		case []any:
			l := make([]any, len(x))
			for i, e := range x {
				l[i] = cp(e)
			}
			return l
		}
		return v
	}
	return object(cp(map[string]any(o)).(map[string]any))
}

var (
	fixturesOnce sync.Once
	fixturesErr  error
)

// installFixtures installs the trimmed KEDA and Prometheus Operator CRDs of testdata/crds
// (for real, with server-side apply) and waits until the server serves their kinds.
func installFixtures(t *testing.T, k *kube) {
	t.Helper()
	fixturesOnce.Do(func() { fixturesErr = applyCRDs(k) })
	if fixturesErr != nil {
		t.Fatal(fixturesErr)
	}
}

func applyCRDs(k *kube) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	files, err := filepath.Glob(filepath.Join("testdata", "crds", "*.yaml"))
	if err != nil || len(files) == 0 {
		return fmt.Errorf("no CRD fixtures in testdata/crds: %v", err)
	}
	var crds []object
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		objs, err := decodeManifests(data)
		if err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		crds = append(crds, objs...)
	}
	for _, crd := range crds {
		if err := k.apply(ctx, crd, ""); err != nil {
			return fmt.Errorf("apply %s: %w", crd.id(), err)
		}
	}
	for _, crd := range crds {
		if err := waitEstablished(ctx, k, crd); err != nil {
			return err
		}
	}
	k.forgetDiscovery()
	// Discovery of a new group can trail the Established condition by a moment.
	for _, crd := range crds {
		group := str(crd.get("spec", "group"))
		kind := str(crd.get("spec", "names", "kind"))
		for _, v := range maps(crd.get("spec", "versions")) {
			for {
				_, err := k.resource(ctx, group+"/"+str(v["name"]), kind)
				if err == nil {
					break
				}
				if ctx.Err() != nil {
					return fmt.Errorf("%s is not served: %w", kind, err)
				}
				time.Sleep(200 * time.Millisecond)
			}
		}
	}
	return nil
}

func waitEstablished(ctx context.Context, k *kube, crd object) error {
	for {
		got, err := k.get(ctx, crd, "")
		if err == nil {
			for _, c := range maps(object(got).get("status", "conditions")) {
				if c["type"] == "Established" && c["status"] == "True" {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("CRD %s not established: %v", crd.name(), strings.TrimSpace(fmt.Sprint(err)))
		case <-time.After(200 * time.Millisecond):
		}
	}
}
