package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sluice-dev/sluice/internal/clicontext"
	"github.com/sluice-dev/sluice/internal/config"
	"github.com/sluice-dev/sluice/internal/version"
)

// cliEnv is what every subcommand gets.
type cliEnv struct {
	getenv func(string) string
	stdout io.Writer
	stderr io.Writer
}

// leaf is a command that parses its own flags (config.FlagSet: the same flags read
// SLUICE_* variables, as the services' do), so cobra hands it the raw arguments.
type leaf struct {
	use, short string
	run        func(ctx context.Context, env *cliEnv, args []string) error
}

// tree is the command tree: top-level commands, and groups of subcommands.
func tree() []any {
	return []any{
		leaf{"provision", "create or update the JetStream streams and buckets (idempotent)", cmdProvision},
		leaf{"run PROVIDER", "start a run of a provider: sluice run amazonads --from DATE --to DATE [--param k=v]...", cmdRun},
		leaf{"event PROVIDER NAME", "send an event to a provider's extractor (kept until one runs) [--from --to --param k=v]...", cmdEvent},
		leaf{"status", "progress per provider and stage: tasks, lag, rate, 429s, ETA (--watch, --json)", cmdStatus},
		leaf{"trace TABLE KEY", "the lineage of a row: record id, raw document, S3 object, Jaeger link", cmdTrace},
		leaf{"context [use NAME]", "the saved connection settings (make infra-up and make demo write them): list, show, select", cmdContext},
		leaf{"replay", "re-publish staged documents to STAGED: --provider P [--dataset D] [--since T --until T] [--run R]", cmdReplay},
		group{"dlq", "dead letters: list, show, retry (reason, record, row, raw document link)", []leaf{
			{"list", "list dead letters [--stage S] [--provider P] [--dataset D] [--limit N] [--json]", cmdDLQList},
			{"show SEQ", "one dead letter in full [--json]", cmdDLQShow},
			{"retry SEQ...", "send dead letters back to their stage: SEQ... or --all [--stage S] [--provider P] [--dataset D]", cmdDLQRetry},
		}},
		group{"spec", "dataset specs: validate, preview on a sample, diff, push (no image rebuilt)", []leaf{
			{"validate FILE...", "check specs offline (schema, CEL, types); errors name the JSON path", specValidate},
			{"preview FILE --sample PAYLOAD[.gz]", "the rows a spec makes of a sample (table or --json) and the rows it would dead-letter", specPreview},
			{"diff FILE", "what the spec changes in its table, against the registered version (or --against OLD_FILE)", specDiff},
			{"push FILE...", "register new spec versions; breaking changes are refused with the migration (--migrated after it)", specPush},
			{"from-sql --table SCHEMA.NAME", "the sqlcopy spec of a source table from its information_schema (source URL from SLUICE_SQLCOPY_SOURCE_URL)", specFromSQL},
		}},
		group{"new", "scaffold new things", []leaf{
			{"provider NAME", "a provider folder: code, dataset spec, README, tests [--dir]", func(ctx context.Context, env *cliEnv, args []string) error {
				return cmdNew(ctx, env, append([]string{"provider"}, args...))
			}},
		}},
	}
}

type group struct {
	name, short string
	leaves      []leaf
}

// newRoot builds the sluice command.
func newRoot(ctx context.Context, env *cliEnv) *cobra.Command {
	root := &cobra.Command{
		Use:           "sluice",
		Short:         "sluice operator CLI: runs, events, status, lineage, replay, dead letters and dataset specs",
		Version:       version.String("sluice"),
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          cobra.NoArgs,
		RunE:          func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetOut(env.stdout)
	root.SetErr(env.stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &config.UsageError{Err: err} })
	for _, node := range tree() {
		switch n := node.(type) {
		case leaf:
			root.AddCommand(n.command(ctx, env, "sluice"))
		case group:
			g := &cobra.Command{Use: n.name, Short: n.short, Args: cobra.NoArgs,
				RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() }}
			for _, l := range n.leaves {
				g.AddCommand(l.command(ctx, env, "sluice "+n.name))
			}
			root.AddCommand(g)
		}
	}
	root.AddCommand(&cobra.Command{
		Use: "version", Short: "print the version", Args: cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) { fmt.Fprintln(env.stdout, version.String("sluice")) },
	})
	return root
}

// command wraps a leaf: cobra routes to it and completes its name; the leaf parses its
// flags (so -h prints them, on stdout).
func (l leaf) command(ctx context.Context, env *cliEnv, parent string) *cobra.Command {
	name, _, _ := strings.Cut(l.use, " ")
	return &cobra.Command{
		Use: l.use, Short: l.short,
		DisableFlagParsing: true,
		RunE: func(_ *cobra.Command, args []string) error {
			return l.run(ctx, env, args)
		},
		Annotations: map[string]string{"path": parent + " " + name},
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	getenv, err := clicontext.Getenv(getenv)
	if err != nil {
		return &config.UsageError{Err: err}
	}
	env := &cliEnv{getenv: getenv, stdout: stdout, stderr: stderr}
	root := newRoot(ctx, env)
	root.SetArgs(args)
	err = root.ExecuteContext(ctx)
	if err != nil && isCobraUsage(err) {
		return &config.UsageError{Err: err}
	}
	return err
}

// isCobraUsage tells cobra's own command-line errors (unknown command, wrong arguments)
// from the errors of a command that ran.
func isCobraUsage(err error) bool {
	var usage *config.UsageError
	if errors.As(err, &usage) || errors.Is(err, config.ErrHelp) || errors.Is(err, config.ErrVersion) {
		return false
	}
	msg := err.Error()
	return strings.HasPrefix(msg, "unknown command") || strings.Contains(msg, "accepts ") || strings.HasPrefix(msg, "unknown flag")
}
