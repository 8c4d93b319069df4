package scaffold

import (
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

func TestRejectsBadNames(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"", "A", "Bad", "with-dash", "with_underscore", "9lives", "x"} {
		if _, err := Provider(t.TempDir(), name); err == nil {
			t.Errorf("name %q was accepted", name)
		}
	}
}

func TestRefusesToOverwrite(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, err := Provider(dir, "acme"); err != nil {
		t.Fatal(err)
	}
	if _, err := Provider(dir, "acme"); !errors.Is(err, ErrExists) {
		t.Fatalf("second scaffold: %v, want ErrExists", err)
	}
}

// TestGeneratedProviderBuildsAndPassesConformance writes a provider into the extractor
// module and runs its generated tests there: they compile it against the SDK, check its
// plan and run the provider conformance suite against a fake API.
func TestGeneratedProviderBuildsAndPassesConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles a provider: skipped with -short")
	}
	extractor, err := filepath.Abs("../../extractor")
	if err != nil {
		t.Fatal(err)
	}
	name := "scaffoldcheck" + strconv.Itoa(rand.IntN(1e6))
	dir := filepath.Join(extractor, "providers")
	t.Cleanup(func() { _ = os.RemoveAll(filepath.Join(dir, name)) })
	files, err := Provider(dir, name)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 5 {
		t.Fatalf("wrote %v, want 5 files", files)
	}
	cmd := exec.Command("go", "test", "-count=1", "./providers/"+name+"/")
	cmd.Dir = extractor
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("generated provider does not pass its tests: %v\n%s", err, out)
	}
}
