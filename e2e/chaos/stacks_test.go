package chaos

import "testing"

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

goroutine 9 [select, 3 minutes]:
github.com/sluice-dev/sluice/internal/ratelimit.(*bucket).take(0xc000999, {0x3, 0x4})
	/src/internal/ratelimit/bucket.go:140 +0x2a5
main.(*worker).run(...)
	/src/services/extractor/worker.go:50 +0x11

goroutine 12 [IO wait]:
internal/poll.runtime_pollWait(0x1, 0x72)
	/go/src/runtime/netpoll.go:351 +0x85

goroutine 15 [chan receive]:
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
