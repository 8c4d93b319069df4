package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/sluice-dev/sluice/internal/bus"
	"github.com/sluice-dev/sluice/internal/config"
	"github.com/sluice-dev/sluice/internal/spec"
	"github.com/sluice-dev/sluice/internal/specstore"
	"github.com/sluice-dev/sluice/schemas"
)

// loadSpec reads and checks one spec file: the JSON Schema first (its errors carry the
// JSON path of the field), then the parser, which also compiles the CEL expressions.
func loadSpec(path string) (*spec.Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if err := schemas.ValidateDatasetSpec(data); err != nil {
		return nil, fmt.Errorf("%s:\n%s", path, indent(err.Error()))
	}
	s, err := spec.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s:\n%s", path, indent(err.Error()))
	}
	return s, nil
}

func indent(s string) string { return "  " + strings.ReplaceAll(s, "\n", "\n  ") }

func specValidate(_ context.Context, env *cliEnv, args []string) error {
	fs := config.NewFlagSet("sluice spec validate", env.getenv, env.stdout)
	if err := fs.Parse(args); err != nil {
		return err
	}
	files := fs.Args()
	if len(files) == 0 {
		return config.Usagef("usage: sluice spec validate FILE...")
	}
	var bad int
	for _, f := range files {
		s, err := loadSpec(f)
		if err != nil {
			fmt.Fprintln(env.stderr, err)
			bad++
			continue
		}
		fmt.Fprintf(env.stdout, "%s: ok (%s version %d → table %s, %d columns)\n", f, s.Key(), s.Version, s.Table, len(s.Columns))
	}
	if bad > 0 {
		return fmt.Errorf("%d of %d specs invalid", bad, len(files))
	}
	return nil
}

func specDiff(ctx context.Context, env *cliEnv, args []string) error {
	fs := config.NewFlagSet("sluice spec diff", env.getenv, env.stdout)
	var url, against string
	natsFlags(fs, &url)
	fs.StringVar(&against, "against", "", "", "compare with this spec file instead of the registered version (offline)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	files := fs.Args()
	if len(files) != 1 {
		return config.Usagef("usage: sluice spec diff FILE [--against OLD_FILE]")
	}
	next, err := loadSpec(files[0])
	if err != nil {
		return err
	}
	var prev *spec.Spec
	if against != "" {
		if prev, err = loadSpec(against); err != nil {
			return err
		}
	} else {
		nc, js, err := connect(ctx, url, env.stderr)
		if err != nil {
			return err
		}
		defer nc.Close()
		store, err := specstore.Open(ctx, js)
		if err != nil {
			return err
		}
		prev, err = store.Get(ctx, next.Provider, next.Dataset)
		if errors.Is(err, specstore.ErrNotFound) {
			fmt.Fprintf(env.stdout, "%s is not registered: pushing it creates table %s with %d columns\n", next.Key(), next.Table, len(next.Columns))
			return nil
		}
		if err != nil {
			return err
		}
	}
	printDiff(env, prev, next)
	return nil
}

func printDiff(env *cliEnv, prev, next *spec.Spec) {
	changes := spec.Diff(prev, next)
	fmt.Fprintf(env.stdout, "%s version %d → %d, table %s\n", next.Key(), prev.Version, next.Version, next.Table)
	if len(changes) == 0 {
		fmt.Fprintln(env.stdout, "  no changes")
		return
	}
	for _, c := range changes {
		fmt.Fprintf(env.stdout, "  %s\n", c)
		if c.Why != "" {
			fmt.Fprintf(env.stdout, "      %s\n", c.Why)
		}
		if c.Migration != "" {
			fmt.Fprintf(env.stdout, "      migration: %s\n", c.Migration)
		}
	}
}

func specPush(ctx context.Context, env *cliEnv, args []string) error {
	fs := config.NewFlagSet("sluice spec push", env.getenv, env.stdout)
	var url string
	var migrated bool
	natsFlags(fs, &url)
	fs.BoolVar(&migrated, "migrated", "", false, "the table was migrated by hand for the breaking changes: push them anyway")
	if err := fs.Parse(args); err != nil {
		return err
	}
	files := fs.Args()
	if len(files) == 0 {
		return config.Usagef("usage: sluice spec push FILE... [--migrated]")
	}
	specs := make([]*spec.Spec, len(files))
	for i, f := range files {
		s, err := loadSpec(f)
		if err != nil {
			return err
		}
		specs[i] = s
	}
	nc, js, err := connect(ctx, url, env.stderr)
	if err != nil {
		return err
	}
	defer nc.Close()
	if err := bus.Provision(ctx, js, bus.DefaultProvision()); err != nil {
		return err
	}
	store, err := specstore.Open(ctx, js)
	if err != nil {
		return err
	}
	for _, next := range specs {
		prev, err := store.Get(ctx, next.Provider, next.Dataset)
		switch {
		case errors.Is(err, specstore.ErrNotFound):
		case err != nil:
			return err
		case prev.Version == next.Version && prev.Fingerprint() == next.Fingerprint():
			fmt.Fprintf(env.stdout, "%s version %d is already registered\n", next.Key(), next.Version)
			continue
		default:
			if err := spec.Compatible(prev, next); err != nil && !migrated {
				return fmt.Errorf("%w\nmigrate the table, then push again with --migrated", err)
			}
		}
		if err := store.Register(ctx, next); err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "%s version %d registered (table %s); the transformer applies it to records from now on — sluice replay re-applies it to staged data\n",
			next.Key(), next.Version, next.Table)
	}
	return nil
}
