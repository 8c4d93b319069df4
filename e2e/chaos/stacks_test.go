package chaos

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/testinfra"
)

func TestProjectStacks(t *testing.T) {
	dump := `time=... level=INFO msg=started
SIGQUIT: quit
PC=0x47a1c1 m=0 sigcode=0

goroutine 0 gp=0x1 m=0 mp=0x2 [idle]:
runtime.futex(0x1)

goroutine 7 [select, 4 minutes]:
github.com/sluice-dev/sluice/internal/ratelimit.(*bucket).take(0xc000123, {0x1, 0x2})
	/src/internal/ratelimit/bucket.go:140 +0x2a5
main.(*worker).run(...)
	/src/services/extractor/worker.go:50 +0x11

goroutine 9 gp=0xc000abc m=nil [select, 3 minutes]:
github.com/sluice-dev/sluice/internal/ratelimit.(*bucket).take(0xc000999, {0x3, 0x4})
	/src/internal/ratelimit/bucket.go:140 +0x2a5
main.(*worker).run(...)
	/src/services/extractor/worker.go:50 +0x11

goroutine 12 [IO wait]:
internal/poll.runtime_pollWait(0x1, 0x72)
	/go/src/runtime/netpoll.go:351 +0x85

goroutine 15 gp=0xc000def m=3 mp=0xc000123 [chan receive]:
github.com/sluice-dev/sluice/internal/bus.(*Consumer).Run(0xc0001)
	/src/internal/bus/run.go:90 +0x10

rax    0x0
`
	got := ProjectStacks(dump)
	want := `2× [select, 4 minutes]
  github.com/sluice-dev/sluice/internal/ratelimit.(*bucket).take(…)
  main.(*worker).run(…)
1× [chan receive]
  github.com/sluice-dev/sluice/internal/bus.(*Consumer).Run(…)
`
	if got != want {
		t.Errorf("ProjectStacks:\n%s\nwant:\n%s", got, want)
	}
	if got := ProjectStacks("no dump here"); got != "" {
		t.Errorf("ProjectStacks of a log without a dump = %q, want empty", got)
	}
}

// TestProjectStacksOfARealDump: Quit makes a running program dump its goroutines into its
// log, and ProjectStacks finds the ones waiting in the project's code there, in the header
// format the Go runtime really writes.
func TestProjectStacksOfARealDump(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program")
	}
	// A GOPATH tree, so that the waiting function sits under the project's import path.
	gopath := t.TempDir()
	files := map[string]string{
		"src/github.com/sluice-dev/sluice/stuck/wait/wait.go": "package wait\n\nfunc Forever() { select {} }\n",
		"src/stuck/main.go": "package main\n\nimport (\n\t\"time\"\n\n\t\"github.com/sluice-dev/sluice/stuck/wait\"\n)\n\n" +
			"func main() {\n\tgo wait.Forever()\n\tgo wait.Forever()\n\tprintln(\"ready\")\n\ttime.Sleep(time.Hour)\n}\n",
	}
	for name, src := range files {
		path := filepath.Join(gopath, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bin := filepath.Join(gopath, "stuck-bin")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "stuck")
	build.Env = append(os.Environ(), "GO111MODULE=off", "GOPATH="+gopath, "GOFLAGS=")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	p, err := testinfra.StartProc("stuck", bin, nil, nil, gopath)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(p.Tail(1<<16), "ready"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			p.Kill()
			t.Fatalf("the program did not start: %q", p.Tail(1000))
		}
	}
	if err := p.Quit(10 * time.Second); err != nil && strings.Contains(err.Error(), "killed") {
		t.Fatal(err)
	}
	got := ProjectStacks(p.Tail(1 << 20))
	// The runtime's frames (gopark…) stay in: a SIGQUIT dump shows them.
	if !strings.HasPrefix(got, "2× [select (no cases)]\n") || !strings.Contains(got, "\n  github.com/sluice-dev/sluice/stuck/wait.Forever(…)\n") {
		t.Errorf("ProjectStacks of the dump:\n%s\nwant both waiting goroutines, once, in wait.Forever\nlog:\n%s", got, p.Tail(1<<20))
	}
}
