package chaos

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// DumpStacks makes every running replica of kind print its goroutines into its log
// (SIGQUIT: the Go runtime's dump, then exit) and leaves it down, and returns the
// goroutines that run the project's code, grouped: a trial that does not come to rest
// says where its work is stuck.
func (p *Pipeline) DumpStacks(kind string) string {
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		out []string
	)
	for _, s := range p.Services {
		if s.Kind != kind {
			continue
		}
		s.mu.Lock()
		proc, held := s.proc, s.held
		s.held = true // the supervisor must not restart it
		s.mu.Unlock()
		if held || proc == nil {
			continue
		}
		if exited, _ := proc.Exited(); exited {
			continue
		}
		wg.Go(func() {
			_ = proc.Quit(10 * time.Second) // exits with the runtime's status 2: expected
			data, err := os.ReadFile(proc.LogPath)
			if err != nil {
				return
			}
			mu.Lock()
			out = append(out, fmt.Sprintf("--- %s goroutines in sluice code:\n%s", s.Name, ProjectStacks(string(data))))
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.Sort(out)
	return strings.Join(out, "\n")
}

var (
	// A SIGQUIT dump's header names the goroutine's g and m ("goroutine 7 gp=0xc000 m=nil
	// [select]:"); other tracebacks leave them out.
	goroutineHeader = regexp.MustCompile(`^goroutine \d+ (?:gp=\S+ m=\S+ (?:mp=\S+ )?)?(\[[^\]]*\]):$`)
	frameOffset     = regexp.MustCompile(` \+0x[0-9a-f]+$`)
	callArgs        = regexp.MustCompile(`\([^()]*\)$`)
)

// ProjectStacks reads a Go runtime goroutine dump (the last one in log) and lists the
// goroutines with a frame in the project's code, identical stacks once with their count,
// most frequent first: a stuck worker shows as the same stack many times.
func ProjectStacks(log string) string {
	if i := strings.LastIndex(log, "SIGQUIT: quit"); i >= 0 {
		log = log[i:]
	}
	// A stack is its wait state (without how long) and its functions; goroutines that
	// share one are counted together under the header of the first.
	type stack struct{ state, frames string }
	counts := map[stack]int{}
	header := map[stack]string{}
	var order []stack
	for _, block := range strings.Split(log, "\n\n") {
		lines := strings.Split(strings.TrimSpace(block), "\n")
		m := goroutineHeader.FindStringSubmatch(lines[0])
		if m == nil || !strings.Contains(block, "github.com/sluice-dev/sluice/") {
			continue
		}
		var b strings.Builder
		for _, l := range lines[1:] {
			if strings.HasPrefix(l, "\t") {
				continue // file:line of the frame above; the function says enough
			}
			l = callArgs.ReplaceAllString(frameOffset.ReplaceAllString(l, ""), "(…)")
			b.WriteString("\n  " + l)
		}
		state, _, _ := strings.Cut(strings.Trim(m[1], "[]"), ",")
		k := stack{state, b.String()}
		if counts[k] == 0 {
			order = append(order, k)
			header[k] = m[1]
		}
		counts[k]++
	}
	slices.SortStableFunc(order, func(a, b stack) int { return counts[b] - counts[a] })
	var b strings.Builder
	for _, k := range order {
		fmt.Fprintf(&b, "%d× %s%s\n", counts[k], header[k], k.frames)
	}
	return b.String()
}
