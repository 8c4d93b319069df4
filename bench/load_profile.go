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

	"github.com/sluice-dev/sluice/internal/testinfra"
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
	return []string{"SLUICE_PPROF_ADDR=127.0.0.1:0", "SLUICE_LOG_LEVEL=info"}
}

// Profiles are served on a loopback listener of their own, logged at start.
var httpAddrPattern = regexp.MustCompile(`pprof=(127\.0\.0\.1:\d+)`)

// start profiles each process for d, named phase-<service>.cpu.pprof.
func (p *profiler) start(ctx context.Context, phase string, d time.Duration, g testinfra.Group) {
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

// addr finds the profile address a service logged at start.
func (p *profiler) addr(proc *testinfra.Proc) (string, error) {
	for deadline := time.Now().Add(10 * time.Second); ; {
		data, _ := os.ReadFile(proc.LogPath)
		if m := httpAddrPattern.FindSubmatch(data); m != nil {
			return string(m[1]), nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("no pprof address in %s", proc.LogPath)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *profiler) profile(ctx context.Context, phase string, d time.Duration, proc *testinfra.Proc) error {
	addr, err := p.addr(proc)
	if err != nil {
		return err
	}
	name := proc.Name
	if i := strings.LastIndex(name, "-"); i > 0 {
		name = name[:i]
	}
	return p.fetch(ctx, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, int(d.Seconds())), filepath.Join(p.dir, phase+"-"+name+".cpu.pprof"))
}

// heaps saves a heap profile of proc every interval until ctx ends, numbered, to find
// what is live when memory peaks.
func (p *profiler) heaps(ctx context.Context, phase string, every time.Duration, proc *testinfra.Proc) {
	if p.dir == "" {
		return
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		addr, err := p.addr(proc)
		if err != nil {
			p.logf("heap profile %s: %v", proc.Name, err)
			return
		}
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-time.After(every):
			}
			if err := p.fetch(ctx, "http://"+addr+"/debug/pprof/heap", filepath.Join(p.dir, fmt.Sprintf("%s-heap-%03d.pprof", phase, i))); err != nil {
				return
			}
		}
	}()
}

func (p *profiler) fetch(ctx context.Context, url, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(f, resp.Body)
	return err
}

// wait waits for every profile started.
func (p *profiler) wait() { p.wg.Wait() }
