package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/sluice-dev/sluice/internal/config"
	"github.com/sluice-dev/sluice/services/sluice/scaffold"
)

func cmdNew(_ context.Context, env *cliEnv, args []string) error {
	if len(args) < 2 || args[0] != "provider" {
		return errors.New("usage: sluice new provider NAME [--dir services/extractor/providers]")
	}
	name := args[1]
	fs := config.NewFlagSet("sluice new provider", env.getenv, env.stderr)
	var dir string
	fs.StringVar(&dir, "dir", "", "services/extractor/providers", "folder of the providers")
	if err := fs.Parse(args[2:]); err != nil {
		return err
	}
	files, err := scaffold.Provider(dir, name)
	if err != nil {
		return err
	}
	for _, f := range files {
		fmt.Fprintln(env.stdout, "wrote", f)
	}
	fmt.Fprintf(env.stdout, "\nnext: add %s to the providers list in services/extractor/registry.go and a conformance case in registry_test.go\n", scaffold.RegistryLine(name))
	return nil
}
