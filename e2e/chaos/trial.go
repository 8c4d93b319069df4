package chaos

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluice-dev/sluice/internal/bus"
)

// Result is the outcome of one trial.
type Result struct {
	Scenario string        `json:"scenario"`
	Seed     uint64        `json:"seed"`
	Elapsed  time.Duration `json:"elapsed_ns"`
	Exactness
	Deliveries DeliveryStats `json:"deliveries"`
	// Actions are the faults injected, with their time since the start.
	Actions []string `json:"actions"`
	// RecoverySeconds is, per dependency restarted, the time from its return to the first
	// ack of a stage that needs it; -1 when no progress came.
	RecoverySeconds map[string]float64 `json:"recovery_s,omitempty"`
	// RSSMaxMiB is the largest resident set of each service kind while a dependency was
	// down.
	RSSMaxMiB map[string]float64 `json:"rss_max_mib,omitempty"`
	// Problems are the failed checks of the scenario beyond exactness (unclean exits, spent
	// deliveries, slow recovery, shrunk replication...).
	Problems []string `json:"problems,omitempty"`
	// Provider is what the simulator injected.
	Provider string `json:"provider"`
	// Err is set when the trial could not run to its end (setup failure, no quiescence).
	Err string `json:"error,omitempty"`
}

// OK reports whether the trial passed every check.
func (r Result) OK() bool { return r.Err == "" && r.Exact() && r.DLQ == 0 && len(r.Problems) == 0 }

func (r Result) String() string {
	d := r.Deliveries
	s := fmt.Sprintf("%s seed %d: %s; deliveries: redelivered %d, max %d, over twice %d %v, naks %d %v, hand-backs %d, terms %d; %v",
		r.Scenario, r.Seed, r.Exactness, d.Redelivered, d.MaxDelivered, d.OverTwice, d.OverTwiceByStream,
		d.Naks, d.NaksByStream, d.HandBacks, d.Terms, r.Elapsed.Round(time.Second))
	if len(r.RecoverySeconds) > 0 {
		s += fmt.Sprintf("; recovery %v", r.RecoverySeconds)
	}
	if len(r.RSSMaxMiB) > 0 {
		s += fmt.Sprintf("; rss max MiB %v", r.RSSMaxMiB)
	}
	if len(r.Problems) > 0 {
		s += "; problems: " + strings.Join(r.Problems, "; ")
	}
	if r.Err != "" {
		s += "; error: " + r.Err
	}
	return s
}

// Scenario is what a trial does to the running pipeline while it works.
type Scenario struct {
	Name string
	// Act runs alongside the pipeline until it returns; it records what it did in r.
	Act func(ctx context.Context, p *Pipeline, r *Recorder) error
	// Check adds the scenario's own checks once the pipeline is quiet.
	Check func(p *Pipeline, r *Result)
}

// Recorder collects a scenario's actions and measurements.
type Recorder struct {
	start    time.Time
	mu       sync.Mutex
	actions  []string
	problems []string
	recovery map[string]float64
	rss      map[string]float64
	kills    []kill
	logf     func(string, ...any)
}

// kill is a SIGKILL of a service replica, when it was sent.
type kill struct {
	kind string
	at   time.Time
}

// Killed records that a replica of kind was just killed with SIGKILL.
func (r *Recorder) Killed(kind string) {
	r.mu.Lock()
	r.kills = append(r.kills, kill{kind: kind, at: time.Now()})
	r.mu.Unlock()
}

// Action records a fault injected now.
func (r *Recorder) Action(format string, args ...any) {
	msg := fmt.Sprintf("t+%.1fs ", time.Since(r.start).Seconds()) + fmt.Sprintf(format, args...)
	r.mu.Lock()
	r.actions = append(r.actions, msg)
	r.mu.Unlock()
	r.logf("  %s", msg)
}

// Problem records a failed check.
func (r *Recorder) Problem(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.mu.Lock()
	r.problems = append(r.problems, msg)
	r.mu.Unlock()
	r.logf("  PROBLEM %s", msg)
}

// Run starts a pipeline with o, runs the scenario, waits until the pipeline is quiet and
// verifies it.
func Run(ctx context.Context, deps *Deps, o Options, sc Scenario, timeout time.Duration) (res Result) {
	o.defaults()
	res = Result{Scenario: sc.Name, Seed: o.Seed}
	start := time.Now()
	defer func() { res.Elapsed = time.Since(start) }()
	p, err := Start(ctx, deps, o)
	if err != nil {
		res.Err = err.Error()
		return res
	}
	defer p.Close()
	want, _, err := p.Expected()
	if err != nil {
		res.Err = err.Error()
		return res
	}
	rec := &Recorder{start: start, recovery: map[string]float64{}, rss: map[string]float64{}, logf: o.Logf}
	actCtx, cancelAct := context.WithCancel(ctx)
	actDone := make(chan error, 1)
	go func() {
		if sc.Act == nil {
			actDone <- nil
			return
		}
		actDone <- sc.Act(actCtx, p, rec)
	}()
	// Quiet only counts once the scenario has done its part.
	var actErr error
	select {
	case actErr = <-actDone:
	case <-time.After(timeout):
		actErr = fmt.Errorf("scenario still acting after %v", timeout)
	case <-ctx.Done():
		actErr = ctx.Err()
	}
	cancelAct()
	if actErr != nil {
		res.Err = "scenario: " + actErr.Error()
	}
	remaining := max(time.Until(start.Add(timeout)), time.Minute)
	state, qerr := p.WaitQuiet(ctx, int64(len(want)), 30*time.Second, remaining)
	if qerr != nil && res.Err == "" {
		res.Err = qerr.Error()
	}
	o.Logf("  quiet: %s", state)
	if qerr != nil {
		// Work that never came to rest: say where each stage that holds messages is stuck.
		for _, kind := range slices.Sorted(maps.Keys(inputOf)) {
			if inFlight(ctx, p, inputOf[kind]) > 0 {
				o.Logf("  %s holds messages of %s; its goroutines:\n%s", kind, inputOf[kind], p.DumpStacks(kind))
			}
		}
	}
	vctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if ex, err := p.Verify(vctx); err != nil {
		if res.Err == "" {
			res.Err = "verify: " + err.Error()
		}
	} else {
		res.Exactness = ex
		rec.mu.Lock()
		kills := slices.Clone(rec.kills)
		rec.mu.Unlock()
		res.excuseOrphans(p.Sim.Unasked(), kills)
	}
	for _, c := range p.Crashes() {
		rec.Problem("%s", c)
	}
	res.Deliveries = p.Tap.Stats()
	st := p.Sim.Stats()
	res.Provider = fmt.Sprintf("429 %d (%d without Retry-After), 5xx %d, expired urls %d, faults %v, reports %d, 425 %d",
		st.Throttled, st.ThrottledWithoutRetryAfter, st.ServerErrors, st.ExpiredURLs, st.Faults, st.ReportsCreated, st.Duplicates)
	rec.mu.Lock()
	res.Actions, res.Problems = rec.actions, rec.problems
	if len(rec.recovery) > 0 {
		res.RecoverySeconds = rec.recovery
	}
	if len(rec.rss) > 0 {
		res.RSSMaxMiB = rec.rss
	}
	rec.mu.Unlock()
	if sc.Check != nil {
		sc.Check(p, &res)
	}
	if !res.OK() {
		path := filepath.Join(o.Dir, "service-logs.txt")
		if err := os.WriteFile(path, []byte(p.Logs(20000)), 0o644); err == nil {
			res.Problems = append(res.Problems, "service log tails in "+path)
		}
	}
	return res
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

func between(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(rand.Int64N(int64(hi-lo)+1))
}

// inputOf is the stream each service kind consumes.
var inputOf = map[string]string{
	Extractor: bus.StreamTasks, StagingStore: bus.StreamRaw, Transformer: bus.StreamStaged, Loader: bus.StreamRows,
}

// inFlight is the number of messages of stream delivered and not yet acked.
func inFlight(ctx context.Context, p *Pipeline, stream string) int {
	s, err := p.JS.Stream(ctx, stream)
	if err != nil {
		return 0
	}
	n := 0
	lister := s.ListConsumers(ctx)
	for ci := range lister.Info() {
		n += ci.NumAckPending
	}
	return n
}

// Kills is the kill -9 scenario: n times, at a random moment 1–5 s after the previous
// one, a random replica of a random service is killed and started again 0.2–2 s later.
// The kill waits up to 2 s for the service's input to have messages in flight, so it
// tends to land mid-work.
func Kills(n int) Scenario {
	return Scenario{Name: "kill-9", Act: func(ctx context.Context, p *Pipeline, r *Recorder) error {
		for range n {
			if err := sleep(ctx, between(time.Second, 5*time.Second)); err != nil {
				return nil
			}
			s := p.Services[rand.IntN(len(p.Services))]
			busy := 0
			for wait := time.Now().Add(2 * time.Second); time.Now().Before(wait); {
				qctx, cancel := context.WithTimeout(ctx, time.Second)
				busy = inFlight(qctx, p, inputOf[s.Kind])
				cancel()
				if busy > 0 || sleep(ctx, 100*time.Millisecond) != nil {
					break
				}
			}
			s.Kill()
			r.Killed(s.Kind)
			r.Action("kill -9 %s (%d of its input in flight)", s.Name, busy)
			if err := sleep(ctx, between(200*time.Millisecond, 2*time.Second)); err != nil {
				return s.Start()
			}
			if err := s.Start(); err != nil {
				return err
			}
		}
		return nil
	}}
}

// waitFlowing waits until the loader has committed rows, so a fault lands mid-run.
func waitFlowing(ctx context.Context, p *Pipeline) error {
	for {
		n, err := p.Loaded(ctx)
		if err == nil && n > 0 {
			return nil
		}
		if err := sleep(ctx, 500*time.Millisecond); err != nil {
			return err
		}
	}
}

// progressStreams are the streams whose acks show that a stage needing the dependency works
// again.
var progressStreams = map[string][]string{
	"postgres": {bus.StreamRows},
	"mongo":    {bus.StreamRaw},
	"s3":       {bus.StreamTasks, bus.StreamStaged},
	"nats":     nil, // any
}

// Outage is the dependency restart scenario: once rows flow, dep (nats, postgres, mongo or
// s3) is stopped, kept down for down while the services' memory is sampled, and started
// again; the recovery is the time from its return to the first ack of a stage that needs
// it. Recovery over 30 s is a problem.
func Outage(dep string, down time.Duration) Scenario {
	return Scenario{Name: "outage-" + dep, Act: func(ctx context.Context, p *Pipeline, r *Recorder) error {
		if err := waitFlowing(ctx, p); err != nil {
			return err
		}
		srv := p.Deps.Dep(dep)
		if dep == "nats" {
			srv = p.NATS.Nodes[0]
		}
		srv.Stop()
		r.Action("stopped %s for %v", dep, down)
		rssCtx, stopRSS := context.WithCancel(ctx)
		rssDone := make(chan map[string]float64, 1)
		go func() { rssDone <- sampleRSS(rssCtx, p, 2*time.Second) }()
		err := sleep(ctx, down)
		stopRSS()
		peak := <-rssDone
		if serr := srv.Start(context.WithoutCancel(ctx)); serr != nil {
			return serr
		}
		back := time.Now()
		r.Action("started %s again", dep)
		r.mu.Lock()
		for k, v := range peak {
			r.rss[k] = v
		}
		r.mu.Unlock()
		if err != nil {
			return nil
		}
		for kind, mib := range peak {
			if mib > rssLimitMiB {
				r.Problem("%s RSS reached %.0f MiB while %s was down (bound %d MiB)", kind, mib, dep, rssLimitMiB)
			}
		}
		// Recovery: first progress of a stage that needs dep, within 3 minutes.
		deadline := back.Add(3 * time.Minute)
		for {
			if at, ok := p.Tap.FirstAckAfter(back, progressStreams[dep]...); ok {
				secs := at.Sub(back).Seconds()
				r.mu.Lock()
				r.recovery[dep] = secs
				r.mu.Unlock()
				r.Action("first progress %.1fs after %s returned", secs, dep)
				if secs > 30 {
					r.Problem("%s: resumed %.1fs after its return (want within 30s)", dep, secs)
				}
				return nil
			}
			if time.Now().After(deadline) {
				r.mu.Lock()
				r.recovery[dep] = -1
				r.mu.Unlock()
				if idle, _, _ := p.Idle(ctx); !idle {
					r.Problem("%s: no progress within 3 minutes of its return", dep)
				}
				return nil
			}
			if err := sleep(ctx, 200*time.Millisecond); err != nil {
				return nil
			}
		}
	}, Check: func(p *Pipeline, res *Result) {
		// An outage is neither the message's fault nor permanent: the stages must wait
		// without spending deliveries. TASKS is left out: provider faults spend task
		// deliveries on purpose.
		for stream, n := range res.Deliveries.NaksByStream {
			if stream != bus.StreamTasks {
				res.Problems = append(res.Problems, fmt.Sprintf("%d deliveries spent by naks on %s (outage of %s)", n, stream, dep))
			}
		}
		for stream, n := range res.Deliveries.OverTwiceByStream {
			if stream != bus.StreamTasks {
				res.Problems = append(res.Problems, fmt.Sprintf("%d messages of %s delivered more than twice (outage of %s)", n, stream, dep))
			}
		}
	}}
}

// rssLimitMiB bounds each service's resident memory while a dependency is down.
const rssLimitMiB = 256

// sampleRSS returns the largest resident set by service kind, sampled every interval.
func sampleRSS(ctx context.Context, p *Pipeline, interval time.Duration) map[string]float64 {
	peak := map[string]float64{}
	for {
		for _, s := range p.Services {
			if mib, ok := rssMiB(s.Proc().Pid()); ok && mib > peak[s.Kind] {
				peak[s.Kind] = mib
			}
		}
		if sleep(ctx, interval) != nil {
			return peak
		}
	}
}

func rssMiB(pid int) (float64, bool) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseFloat(f[1], 64)
			return kb / 1024, err == nil
		}
	}
	return 0, false
}

// NodeLoss is the cluster scenario: once rows flow, one node of the three is killed with
// SIGKILL and stays down; the streams must keep three replicas configured. With
// reprovision, the harness provisions R3 again just before the kill (undoing a service that
// shrank the streams), so the scenario tests the pipeline's carrying on by itself.
func NodeLoss(reprovision bool) Scenario {
	name := "cluster-node-loss"
	if reprovision {
		name += "-reprovisioned"
	}
	return Scenario{Name: name, Act: func(ctx context.Context, p *Pipeline, r *Recorder) error {
		if len(p.NATS.Nodes) < 3 {
			return fmt.Errorf("node loss needs a 3-node cluster")
		}
		if err := waitFlowing(ctx, p); err != nil {
			return err
		}
		if shrunk := replicaProblems(ctx, p); len(shrunk) > 0 {
			if !reprovision {
				r.Problem("before the node loss: %s", strings.Join(shrunk, "; "))
			} else {
				r.Action("found before the node loss: %s", strings.Join(shrunk, "; "))
				pc := bus.DefaultProvision()
				pc.Replicas = 3
				if err := bus.Provision(ctx, p.JS, pc); err != nil {
					return fmt.Errorf("provision R3 again: %w", err)
				}
				r.Action("provisioned the streams with 3 replicas again")
				// Let the new replicas catch up before a node goes.
				if err := sleep(ctx, 5*time.Second); err != nil {
					return err
				}
			}
		}
		n := p.NATS.Nodes[rand.IntN(len(p.NATS.Nodes))]
		n.Kill()
		r.Action("kill -9 %s (stays down)", n.Name)
		return nil
	}, Check: func(p *Pipeline, res *Result) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		for _, msg := range replicaProblems(ctx, p) {
			res.Problems = append(res.Problems, "at the end: "+msg)
		}
	}}
}

// replicaProblems names the streams that do not have the three replicas the harness
// provisioned (a service that provisions with its own default shrinks them).
func replicaProblems(ctx context.Context, p *Pipeline) []string {
	var out []string
	for _, name := range []string{bus.StreamTasks, bus.StreamRaw, bus.StreamStaged, bus.StreamRows, bus.StreamDLQ} {
		s, err := p.JS.Stream(ctx, name)
		if err != nil {
			out = append(out, fmt.Sprintf("stream %s: %v", name, err))
			continue
		}
		if n := s.CachedInfo().Config.Replicas; n != 3 {
			out = append(out, fmt.Sprintf("stream %s has %d replica(s), provisioned with 3", name, n))
		}
	}
	return out
}

// Sigterms is the graceful shutdown scenario: rounds times, each service kind in turn has a
// random replica stopped with SIGTERM while work flows, and started again. Each must exit
// cleanly within its shutdown timeout; afterwards no delivery may have been spent by a nak
// and no message delivered more than twice.
func Sigterms(rounds int) Scenario {
	return Scenario{Name: "sigterm", Act: func(ctx context.Context, p *Pipeline, r *Recorder) error {
		if err := waitFlowing(ctx, p); err != nil {
			return err
		}
		for range rounds {
			for _, kind := range Kinds {
				if err := sleep(ctx, between(500*time.Millisecond, 2*time.Second)); err != nil {
					return nil
				}
				reps := p.Of(kind)
				s := reps[rand.IntN(len(reps))]
				t0 := time.Now()
				err := s.Stop(20 * time.Second)
				r.Action("SIGTERM %s: exited after %.1fs (%v)", s.Name, time.Since(t0).Seconds(), err)
				if err != nil {
					r.Problem("%s did not exit cleanly on SIGTERM: %v", s.Name, err)
				}
				if err := s.Start(); err != nil {
					return err
				}
			}
		}
		return nil
	}, Check: func(p *Pipeline, res *Result) {
		if res.Deliveries.Naks > 0 {
			res.Problems = append(res.Problems, fmt.Sprintf("%d deliveries spent by naks", res.Deliveries.Naks))
		}
		if res.Deliveries.OverTwice > 0 {
			res.Problems = append(res.Problems, fmt.Sprintf("%d messages delivered more than twice (max %d)", res.Deliveries.OverTwice, res.Deliveries.MaxDelivered))
		}
	}}
}
