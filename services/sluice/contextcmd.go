package main

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/sluice-dev/sluice/internal/clicontext"
	"github.com/sluice-dev/sluice/internal/config"
)

// cmdContext lists the contexts, shows the selected one, or selects one (`use NAME`).
func cmdContext(_ context.Context, env *cliEnv, args []string) error {
	fs := config.NewFlagSet("sluice context", env.getenv, env.stdout)
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch a := fs.Args(); {
	case len(a) == 0:
		cur := clicontext.Current(env.getenv)
		names := clicontext.List(env.getenv)
		if len(names) == 0 {
			fmt.Fprintf(env.stdout, "no contexts in %s (make infra-up writes \"local\", make demo writes \"demo\")\n", clicontext.Dir(env.getenv))
			return nil
		}
		for _, n := range names {
			mark := " "
			if n == cur {
				mark = "*"
			}
			fmt.Fprintf(env.stdout, "%s %s\n", mark, n)
		}
		if cur == "" {
			return nil
		}
		vals, err := clicontext.Load(env.getenv, cur)
		if err != nil {
			return err
		}
		keys := make([]string, 0, len(vals))
		for k := range vals {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fmt.Fprintf(env.stdout, "\n%s:\n", cur)
		for _, k := range keys {
			fmt.Fprintf(env.stdout, "  %s=%s\n", k, redactSetting(k, vals[k]))
		}
		return nil
	case len(a) == 2 && a[0] == "use":
		if err := clicontext.Use(env.getenv, a[1]); err != nil {
			return &config.UsageError{Err: fmt.Errorf("%w; known: %v", err, clicontext.List(env.getenv))}
		}
		fmt.Fprintf(env.stdout, "using context %s\n", a[1])
		return nil
	}
	return config.Usagef("usage: sluice context [use NAME]")
}

// redactSetting hides secrets when a context is shown: secret-named settings whole, and
// the password of a URL.
func redactSetting(key, value string) string {
	for _, s := range []string{"SECRET", "PASSWORD", "TOKEN"} {
		if strings.Contains(key, s) {
			return "****"
		}
	}
	if u, err := url.Parse(value); err == nil && u.User != nil {
		return u.Redacted()
	}
	return value
}
