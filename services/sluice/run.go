package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
)

// command is one subcommand.
type command struct {
	summary string
	run     func(ctx context.Context, env *cliEnv, args []string) error
}

// cliEnv is what every subcommand gets.
type cliEnv struct {
	getenv func(string) string
	stdout io.Writer
	stderr io.Writer
}

func commands() map[string]command {
	return map[string]command{
		"dlq":       {"dead letters: sluice dlq list|show SEQ|retry SEQ... (reason, record, row, raw document link)", cmdDLQ},
		"provision": {"create or update the JetStream streams and buckets (idempotent)", cmdProvision},
		"event":     {"send an event to a provider's extractor (kept until one runs): sluice event <provider> <name> [--from DATE --to DATE --param k=v]", cmdEvent},
		"run":       {"start a run of a provider: sluice run <provider> --from DATE --to DATE", cmdRun},
		"new":       {"scaffold a provider: sluice new provider NAME (code, dataset spec, README, tests)", cmdNew},
		"trace":     {"the lineage of a row: sluice trace <table> <primary key> (record id, raw document, S3 object, Jaeger link)", cmdTrace},
		"replay":    {"re-publish staged documents to STAGED: sluice replay --provider P [--dataset D] [--since T --until T] [--run R]", cmdReplay},
		"spec":      {"dataset specs: sluice spec validate|preview|diff|push FILE (offline checks, preview on a sample, safe registration), from-sql (generated from a source table)", cmdSpec},
		"status":    {"progress per provider and stage: tasks, lag, rate, 429s, ETA (--watch, --json)", cmdStatus},
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	env := &cliEnv{getenv: getenv, stdout: stdout, stderr: stderr}
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr, cmds)
		if len(args) == 0 {
			return fmt.Errorf("no command given")
		}
		return nil
	}
	c, ok := cmds[args[0]]
	if !ok {
		usage(stderr, cmds)
		return fmt.Errorf("unknown command %q", args[0])
	}
	return c.run(ctx, env, args[1:])
}

func usage(w io.Writer, cmds map[string]command) {
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("usage: sluice <command> [flags]\n\ncommands:\n")
	for _, n := range names {
		fmt.Fprintf(&b, "  %-10s %s\n", n, cmds[n].summary)
	}
	b.WriteString("\nrun 'sluice <command> -h' for the flags of a command\n")
	fmt.Fprint(w, b.String())
}
