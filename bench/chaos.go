package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// chaosSuite runs fault trials (e2e/chaos, the program behind `make chaos`) and reports
// what they lost and duplicated, and the slowest resumption of the pipeline after a
// dependency (NATS, PostgreSQL, MongoDB-wire, S3) came back.
var chaosSuite = Suite{Name: "chaos", Run: runChaos}

func runChaos(ctx context.Context, env *Env) error {
	args := []string{"run", "./e2e/chaos/cmd/chaos", "-scenarios", "kill,outage", "-trials", "5", "-outage", "60s"}
	if env.Small {
		args = []string{"run", "./e2e/chaos/cmd/chaos", "-scenarios", "kill,outage", "-trials", "1", "-kills", "3",
			"-outage", "20s", "-profiles", "8", "-days", "3"}
	}
	if v := os.Getenv("CHAOS_BENCH_OUTAGE"); v != "" {
		args = append(args, "-outage", v)
	}
	out := filepath.Join(env.Bin, "chaos.json")
	args = append(args, "-json", out)
	env.Logf("chaos: go %v", args)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = env.Root, os.Stderr, os.Stderr
	runErr := cmd.Run()
	data, err := os.ReadFile(out)
	if err != nil {
		return fmt.Errorf("chaos trials: %v (no results: %v)", runErr, err)
	}
	var sum struct {
		Trials       int     `json:"trials"`
		Lost         int     `json:"lost"`
		Duplicated   int     `json:"duplicated"`
		Failed       int     `json:"failed"`
		RecoverySMax float64 `json:"recovery_s_max"`
	}
	if err := json.Unmarshal(data, &sum); err != nil {
		return fmt.Errorf("chaos results: %w", err)
	}
	env.Emit("recovery_s_max", round3(sum.RecoverySMax))
	env.Emit("chaos_lost", float64(sum.Lost))
	env.Emit("chaos_duplicated", float64(sum.Duplicated))
	env.Logf("chaos: %d trials, %d failed (%v)", sum.Trials, sum.Failed, runErr)
	return nil
}
