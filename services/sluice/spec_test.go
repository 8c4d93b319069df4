package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var updatePreview = flag.Bool("update", false, "rewrite the preview golden files of the shipped specs' samples")

// TestPreviewShippedSpecs runs `sluice spec preview --json` on the sample of every dataset
// spec a provider ships (datasets/samples/<dataset>.*) and compares it with the golden
// output beside it. A spec without a sample fails: every shipped spec has one.
func TestPreviewShippedSpecs(t *testing.T) {
	specs, err := filepath.Glob("../extractor/providers/*/datasets/*.json")
	if err != nil || len(specs) == 0 {
		t.Fatalf("no shipped specs: %v", err)
	}
	for _, sp := range specs {
		dir, ds := filepath.Dir(sp), strings.TrimSuffix(filepath.Base(sp), ".json")
		t.Run(filepath.Base(filepath.Dir(dir))+"/"+ds, func(t *testing.T) {
			samples, _ := filepath.Glob(filepath.Join(dir, "samples", ds+".*"))
			var sample string
			for _, s := range samples {
				if !strings.HasSuffix(s, ".record.json") && !strings.HasSuffix(s, ".preview.json") {
					sample = s
				}
			}
			if sample == "" {
				t.Fatalf("%s has no sample payload in %s/samples/%s.*", sp, dir, ds)
			}
			out, errOut, err := runCLI(t, "spec", "preview", sp, "--sample", sample, "--json")
			if err != nil {
				t.Fatalf("preview: %v\n%s", err, errOut)
			}
			if !strings.Contains(out, `"emitted": `) || strings.Contains(out, `"emitted": 0,`) {
				t.Errorf("the sample yields no rows:\n%s", out)
			}
			golden := filepath.Join(dir, "samples", ds+".preview.json")
			if *updatePreview {
				if err := os.WriteFile(golden, []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -run TestPreviewShippedSpecs -update)", err)
			}
			if out != string(want) {
				t.Errorf("preview differs from %s (check, then -update):\n%s", golden, out)
			}
		})
	}
}

func TestSpecValidateNamesTheField(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"provider":"p","dataset":"d","version":1,"table":"t","format":{"type":"ndjson"},
		"columns":[{"name":"id","type":"bigint","expr":"row.id"},{"name":"v","type":"varchar","expr":"row.v"}],"primary_key":["id"]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	badCEL := filepath.Join(dir, "cel.json")
	if err := os.WriteFile(badCEL, []byte(`{"provider":"p","dataset":"d","version":1,"table":"t","format":{"type":"ndjson"},
		"columns":[{"name":"id","type":"bigint","expr":"rwo.id"}],"primary_key":["id"]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ file, want string }{
		{bad, "/columns/1/type:"},
		{badCEL, "columns[0].expr: undeclared reference to 'rwo'"},
	} {
		_, errOut, err := runCLI(t, "spec", "validate", c.file)
		if err == nil || !strings.Contains(errOut, c.want) {
			t.Errorf("validate %s: %v, stderr %q, want it to name %q", c.file, err, errOut, c.want)
		}
	}
	out, _, err := runCLI(t, "spec", "validate", "../extractor/providers/amazonads/datasets/sp_campaigns.json")
	if err != nil || !strings.Contains(out, "ok (amazonads.sp_campaigns version") {
		t.Errorf("a good spec: %v %q", err, out)
	}
}

func runCLI(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	err = run(context.Background(), args, func(string) string { return "" }, &out, &errb)
	return out.String(), errb.String(), err
}
