package testinfra

// Service binaries built from the workspace and run as real processes, for the end-to-end
// tests, the demo and the benchmarks: each service is its own process with its own
// environment and log file, stopped with SIGTERM like Kubernetes would.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// BinaryPackages maps each binary name to its package, relative to the repository root.
var BinaryPackages = map[string]string{
	"sluice-extractor":     "./services/extractor",
	"sluice-staging-store": "./services/staging-store",
	"sluice-transformer":   "./services/transformer",
	"sluice-loader":        "./services/loader",
	"sluice":               "./services/sluice",
	"sluice-sim-amazonads": "./services/simulators/amazonads",
	"sluice-sim-portal":    "./services/simulators/portal",
	"sluice-sim-catalog":   "./services/simulators/catalog",
}

// RepoRoot finds the repository root (the directory holding go.work) from dir upwards.
func RepoRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.work")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.work above %s", dir)
		}
	}
}

// Build compiles the named binaries (all when names is empty) into outDir.
func Build(ctx context.Context, root, outDir string, names ...string) error {
	if len(names) == 0 {
		for n := range BinaryPackages {
			names = append(names, n)
		}
	}
	for _, n := range names {
		pkg, ok := BinaryPackages[n]
		if !ok {
			return fmt.Errorf("build: unknown binary %q", n)
		}
		cmd := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(outDir, n), pkg)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %w\n%s", pkg, err, out)
		}
	}
	return nil
}

// Proc is a running service process.
type Proc struct {
	Name    string
	LogPath string
	cmd     *exec.Cmd
	done    chan struct{}
	mu      sync.Mutex
	err     error
}

// StartProc runs bin with args and env (added to the current environment); output goes to
// logDir/<name>.log.
func StartProc(name, bin string, args, env []string, logDir string) (*Proc, error) {
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, err
	}
	logPath := filepath.Join(logDir, name+".log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Proc{Name: name, LogPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		logf.Close()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(p.done)
	}()
	return p, nil
}

// Pid is the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Exited reports whether the process has ended, and how.
func (p *Proc) Exited() (bool, error) {
	select {
	case <-p.done:
		p.mu.Lock()
		defer p.mu.Unlock()
		return true, p.err
	default:
		return false, nil
	}
}

// Stop sends SIGTERM and waits up to timeout for a graceful exit, then kills.
func (p *Proc) Stop(timeout time.Duration) error {
	return p.signalAndWait(syscall.SIGTERM, "SIGTERM", timeout)
}

// Quit sends SIGQUIT, on which the Go runtime writes every goroutine's stack to the log
// and exits, and waits up to timeout for it, then kills.
func (p *Proc) Quit(timeout time.Duration) error {
	return p.signalAndWait(syscall.SIGQUIT, "SIGQUIT", timeout)
}

// signalAndWait sends sig and waits up to timeout for the process to end, then kills it;
// it returns how the process ended.
func (p *Proc) signalAndWait(sig syscall.Signal, name string, timeout time.Duration) error {
	if exited, err := p.Exited(); exited {
		return err
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.err
	case <-time.After(timeout):
		p.Kill()
		return fmt.Errorf("%s did not exit within %v after %s; killed", p.Name, timeout, name)
	}
}

// Kill ends the process at once (kill -9), as a crash would.
func (p *Proc) Kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// Tail returns the last n bytes of the process log, for failure messages.
func (p *Proc) Tail(n int64) string {
	data, err := os.ReadFile(p.LogPath)
	if err != nil {
		return err.Error()
	}
	if int64(len(data)) > n {
		data = data[int64(len(data))-n:]
	}
	return string(data)
}

// Group stops many processes together.
type Group []*Proc

// Stop stops all in reverse start order and joins their errors.
func (g Group) Stop(timeout time.Duration) error {
	var errs []error
	for i := len(g) - 1; i >= 0; i-- {
		if err := g[i].Stop(timeout); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", g[i].Name, err))
		}
	}
	return errors.Join(errs...)
}

// Binaries builds the named binaries (see BinaryPackages) into a directory of the test
// and returns it.
func Binaries(t testing.TB, names ...string) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root, err := RepoRoot(wd)
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := Build(ctx, root, bin, names...); err != nil {
		t.Fatal(err)
	}
	return bin
}

// ProcEnv turns a map into KEY=value pairs.
func ProcEnv(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	return out
}
