package main

import (
	"context"
	"fmt"

	"github.com/sluice-dev/sluice/internal/config"
	"github.com/sluice-dev/sluice/services/sluice/scaffold"
)

func cmdNew(_ context.Context, env *cliEnv, args []string) error {
	fs := config.NewFlagSet("sluice new provider", env.getenv, env.stdout)
	var dir string
	fs.StringVar(&dir, "dir", "", "services/extractor/providers", "folder of the providers")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if len(fs.Args()) != 2 || fs.Args()[0] != "provider" {
		return config.Usagef("usage: sluice new provider NAME [--dir services/extractor/providers]")
	}
	name := fs.Args()[1]
	files, err := scaffold.Provider(dir, name)
	if err != nil {
		return err
	}
	for _, f := range files {
		fmt.Fprintln(env.stdout, "wrote", f)
	}
	fmt.Fprintf(env.stdout, "\nnext: add %s to the providers list in services/extractor/registry.go (its conformance test is in its folder)\n", scaffold.RegistryLine(name))
	return nil
}
