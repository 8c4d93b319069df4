package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/sluice-dev/sluice/internal/bus"
	"github.com/sluice-dev/sluice/internal/config"
	"github.com/sluice-dev/sluice/internal/envelope"
	"github.com/sluice-dev/sluice/services/extractor/provider"
)

func cmdRun(ctx context.Context, env *cliEnv, args []string) error {
	fs := config.NewFlagSet("sluice run", env.getenv, env.stdout)
	var url, from, to, runID string
	var params []string
	natsFlags(fs, &url)
	today := time.Now().UTC().Format("2006-01-02")
	fs.StringVar(&from, "from", "", today, "first day of the run (YYYY-MM-DD)")
	fs.StringVar(&to, "to", "", today, "last day of the run, inclusive (YYYY-MM-DD)")
	fs.StringVar(&runID, "run-id", "", "", "run id (default: generated); re-using one re-plans that run, publishing nothing twice")
	fs.StringArrayVar(&params, "param", "", "a provider parameter k=v; repeat for several")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if len(fs.Args()) != 1 {
		return config.Usagef("usage: sluice run <provider> --from YYYY-MM-DD --to YYYY-MM-DD [--param k=v]... [--run-id ID]")
	}
	name := fs.Args()[0]
	if err := envelope.CheckName("provider", name); err != nil {
		return &config.UsageError{Err: err}
	}
	trig, err := trigger(from, to, runID, params)
	if err != nil {
		return &config.UsageError{Err: err}
	}
	nc, js, err := connect(ctx, url, env.stderr)
	if err != nil {
		return err
	}
	defer nc.Close()
	if err := bus.Provision(ctx, js, bus.DefaultProvision()); err != nil {
		return err
	}
	if err := checkProvider(ctx, js, name); err != nil {
		return err
	}
	msg, err := provider.PlanMessage(name, trig)
	if err != nil {
		return err
	}
	if _, err := bus.Publish(ctx, js, msg); err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "run %s of %s planned for %s..%s\n", trig.RunID, name, from, to)
	return nil
}

func trigger(from, to, runID string, params []string) (provider.Trigger, error) {
	f, err := time.Parse("2006-01-02", from)
	if err != nil {
		return provider.Trigger{}, fmt.Errorf("--from %q: want YYYY-MM-DD", from)
	}
	t, err := time.Parse("2006-01-02", to)
	if err != nil {
		return provider.Trigger{}, fmt.Errorf("--to %q: want YYYY-MM-DD", to)
	}
	if t.Before(f) {
		return provider.Trigger{}, fmt.Errorf("--to %s is before --from %s", to, from)
	}
	if runID == "" {
		var b [4]byte
		_, _ = rand.Read(b[:])
		runID = time.Now().UTC().Format("20060102T150405") + "-" + hex.EncodeToString(b[:])
	}
	if err := envelope.CheckName("run id", strings.ReplaceAll(runID, ".", "_")); err != nil && !validRunID(runID) {
		return provider.Trigger{}, fmt.Errorf("--run-id %q: letters, digits, '-', '_' only", runID)
	}
	p, err := parseParams(params)
	if err != nil {
		return provider.Trigger{}, err
	}
	return provider.Trigger{RunID: runID, Source: "cli", From: f, To: t, Params: p}, nil
}

// parseParams reads repeated --param k=v flags; a key given twice is an error.
func parseParams(params []string) (map[string]string, error) {
	p := map[string]string{}
	for _, kv := range params {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--param %q: want k=v", kv)
		}
		if _, dup := p[k]; dup {
			return nil, fmt.Errorf("--param %s given twice", k)
		}
		p[k] = v
	}
	return p, nil
}

func validRunID(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return s != ""
}
