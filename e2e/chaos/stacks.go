package chaos

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
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
			if err := syscall.Kill(proc.Pid(), syscall.SIGQUIT); err != nil {
				return
			}
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
				if exited, _ := proc.Exited(); exited {
					break
				}
			}
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
	goroutineHeader = regexp.MustCompile(`^goroutine \d+ (\[[^\]]*\]):$`)
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
	counts := map[string]int{}
	header := map[string]string{} // the first one's, with how long it has waited
	var order []string
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
		state, _, _ := strings.Cut(m[1], ",")
		key := strings.TrimSuffix(state, "]") + "]" + b.String()
		if counts[key] == 0 {
			order = append(order, key)
			header[key] = m[1]
		}
		counts[key]++
	}
	slices.SortStableFunc(order, func(a, b string) int { return counts[b] - counts[a] })
	var b strings.Builder
	for _, k := range order {
		_, frames, _ := strings.Cut(k, "]")
		fmt.Fprintf(&b, "%d× %s%s\n", counts[k], header[k], frames)
	}
	return b.String()
}
