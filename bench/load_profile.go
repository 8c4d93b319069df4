package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/sluice-dev/sluice/internal/procs"
)

// profiler fetches CPU profiles of service processes while a phase runs, when
// BENCH_PROFILE names a directory: it shows where the time of a slow phase goes.
type profiler struct {
	dir  string
	wg   sync.WaitGroup
	logf func(string, ...any)
}

func newProfiler(logf func(string, ...any)) *profiler {
	return &profiler{dir: os.Getenv("BENCH_PROFILE"), logf: logf}
}

// env is what services need to serve profiles.
func (p *profiler) env() []string {
	if p.dir == "" {
		return nil
	}
	return []string{"SLUICE_PPROF=1", "SLUICE_LOG_LEVEL=info"}
}

var httpAddrPattern = regexp.MustCompile(`http=(127\.0\.0\.1:\d+)`)

// start profiles each process for d, named phase-<service>.cpu.pprof.
func (p *profiler) start(ctx context.Context, phase string, d time.Duration, g procs.Group) {
	if p.dir == "" {
		return
	}
	for _, proc := range g {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			if err := p.profile(ctx, phase, d, proc); err != nil {
				p.logf("profile %s: %v", proc.Name, err)
			}
		}()
	}
}

func (p *profiler) profile(ctx context.Context, phase string, d time.Duration, proc *procs.Proc) error {
	var addr string
	for deadline := time.Now().Add(10 * time.Second); addr == ""; {
		data, _ := os.ReadFile(proc.LogPath)
		if m := httpAddrPattern.FindSubmatch(data); m != nil {
			addr = string(m[1])
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no http address in %s", proc.LogPath)
		}
		time.Sleep(20 * time.Millisecond)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, int(d.Seconds())), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	name := proc.Name
	if i := strings.LastIndex(name, "-"); i > 0 {
		name = name[:i]
	}
	f, err := os.Create(filepath.Join(p.dir, phase+"-"+name+".cpu.pprof"))
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(f, resp.Body)
	return err
}

// wait waits for every profile started.
func (p *profiler) wait() { p.wg.Wait() }
