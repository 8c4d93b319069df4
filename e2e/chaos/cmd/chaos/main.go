// Command chaos runs the fault trials of package chaos (`make chaos`): CHAOS_TRIALS kill -9
// trials (50 by default) of the Amazon Ads seed job with provider faults on, then the
// dependency restarts (NATS, PostgreSQL, MongoDB-wire, S3, each down for --outage), the
// 3-node cluster with a node killed, and SIGTERM under load. It prints one line per trial,
// then `trials N, lost L, duplicated D`, and exits non-zero when any trial failed.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sluice-dev/sluice/e2e/chaos"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(1)
	}
}

// Summary is what --json writes: every trial and the totals.
type Summary struct {
	Trials       int   `json:"trials"`
	Lost         int   `json:"lost"`
	Duplicated   int   `json:"duplicated"`
	Wrong        int   `json:"wrong"`
	ReportsTwice int64 `json:"reports_twice"`
	// ReportsOrphaned are reports whose creator was killed before it recorded their ids.
	ReportsOrphaned int64          `json:"reports_orphaned"`
	DLQ             uint64         `json:"dlq"`
	Failed          int            `json:"failed"`
	RecoverySMax    float64        `json:"recovery_s_max"`
	Results         []chaos.Result `json:"results"`
	ElapsedSecond   float64        `json:"elapsed_s"`
}

func run() error {
	defTrials := 50
	if v := os.Getenv("CHAOS_TRIALS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("CHAOS_TRIALS %q: %w", v, err)
		}
		defTrials = n
	}
	trials := flag.Int("trials", defTrials, "kill -9 trials (CHAOS_TRIALS)")
	kills := flag.Int("kills", 6, "kill -9 per trial")
	outage := flag.Duration("outage", 3*time.Minute, "how long each dependency stays down")
	scenarios := flag.String("scenarios", "kill,outage,cluster,cluster-r3,sigterm",
		"scenarios to run: kill, outage, cluster, cluster-r3 (streams provisioned R3 again just before the node loss), sigterm")
	profiles := flag.Int("profiles", 30, "simulator profiles per trial")
	days := flag.Int("days", 5, "days per trial")
	replicas := flag.Int("replicas", 2, "replicas of each service")
	jsonOut := flag.String("json", "", "write every result to this file")
	keep := flag.Bool("keep", false, "keep the work directory (logs) even when every trial passed")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	want := strings.Split(*scenarios, ",")

	work, err := os.MkdirTemp("", "sluice-chaos")
	if err != nil {
		return err
	}
	logf := func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
	logf("chaos: building services, starting private PostgreSQL, FerretDB and versitygw under %s", work)
	bin := filepath.Join(work, "bin")
	if err := chaos.Build(ctx, bin); err != nil {
		return err
	}
	deps, err := chaos.StartDeps(ctx, filepath.Join(work, "deps"))
	if err != nil {
		return err
	}
	defer deps.Close()

	start := time.Now()
	var sum Summary
	scale := chaos.Scale{Profiles: *profiles, Days: *days, Campaigns: 3, AdGroups: 2}
	trial := func(name string, o chaos.Options, sc chaos.Scenario, timeout time.Duration) {
		o.Bin, o.Dir, o.Logf = bin, filepath.Join(work, "trials", name), logf
		if o.Scale == (chaos.Scale{}) {
			o.Scale = scale
		}
		if o.Replicas == 0 {
			o.Replicas = *replicas
		}
		logf("== %s", name)
		r := chaos.Run(ctx, deps, o, sc, timeout)
		fmt.Printf("%s: %s\n", name, r)
		if r.Provider != "" {
			logf("   provider: %s", r.Provider)
		}
		for _, s := range r.Samples {
			logf("   %s", s)
		}
		sum.Trials++
		sum.Lost += r.Lost
		sum.Duplicated += r.Duplicated
		sum.Wrong += r.Wrong
		sum.ReportsTwice += r.ReportsTwice
		sum.ReportsOrphaned += r.ReportsOrphaned
		sum.DLQ += r.DLQ
		if !r.OK() {
			sum.Failed++
		}
		for _, s := range r.RecoverySeconds {
			if s < 0 {
				s = 180 // no progress within the wait: count the whole wait
			}
			sum.RecoverySMax = max(sum.RecoverySMax, s)
		}
		sum.Results = append(sum.Results, r)
	}

	if slices.Contains(want, "kill") {
		for i := range *trials {
			if ctx.Err() != nil {
				break
			}
			trial(fmt.Sprintf("kill-%02d", i+1), chaos.Options{ProviderFaults: true}, chaos.Kills(*kills), 10*time.Minute)
		}
	}
	if slices.Contains(want, "outage") {
		for _, dep := range []string{"nats", "postgres", "mongo", "s3"} {
			if ctx.Err() != nil {
				break
			}
			o := chaos.Options{ProviderFaults: true, ReportLatency: 5 * time.Second}
			trial("outage-"+dep, o, chaos.Outage(dep, *outage), *outage+10*time.Minute)
		}
	}
	if slices.Contains(want, "cluster") && ctx.Err() == nil {
		trial("cluster", chaos.Options{ProviderFaults: true, NATSNodes: 3}, chaos.NodeLoss(false), 10*time.Minute)
	}
	if slices.Contains(want, "cluster-r3") && ctx.Err() == nil {
		trial("cluster-r3", chaos.Options{ProviderFaults: true, NATSNodes: 3}, chaos.NodeLoss(true), 10*time.Minute)
	}
	if slices.Contains(want, "sigterm") && ctx.Err() == nil {
		trial("sigterm", chaos.Options{ReportLatency: 2 * time.Second}, chaos.Sigterms(2), 10*time.Minute)
	}
	sum.ElapsedSecond = time.Since(start).Seconds()
	if *jsonOut != "" {
		data, err := json.MarshalIndent(sum, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(*jsonOut, data, 0o644); err != nil {
			return err
		}
	}
	fmt.Printf("wrong values %d, reports requested twice %d (and %d orphaned by kill -9), dead-lettered %d, failed trials %d, slowest recovery %.1fs\n",
		sum.Wrong, sum.ReportsTwice, sum.ReportsOrphaned, sum.DLQ, sum.Failed, sum.RecoverySMax)
	fmt.Printf("trials %d, lost %d, duplicated %d\n", sum.Trials, sum.Lost, sum.Duplicated)
	if sum.Failed > 0 || *keep {
		logf("logs kept in %s", work)
	} else {
		os.RemoveAll(work)
	}
	if sum.Failed > 0 {
		return fmt.Errorf("%d of %d trials failed", sum.Failed, sum.Trials)
	}
	return nil
}
