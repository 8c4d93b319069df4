// Package config reads service configuration from flags and environment variables (a flag
// given on the command line wins over its variable, which wins over the default) and holds
// the configuration shared by every sluice service.
package config

import (
	"flag"
	"fmt"
	"io"
	"os"
	"time"
)

// FlagSet is a flag.FlagSet whose flags can also be set from environment variables.
type FlagSet struct {
	fs       *flag.FlagSet
	getenv   func(string) string
	readFile func(string) ([]byte, error)
	envs     []binding
	// secrets have no flag; conns are flags that must not carry one.
	secrets     []secretBinding
	secretUsage []string
	conns       []connBinding
}

type binding struct{ flag, env string }

// NewFlagSet returns an empty set; getenv is os.Getenv in main and a map lookup in tests.
func NewFlagSet(name string, getenv func(string) string, output io.Writer) *FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(output)
	f := &FlagSet{fs: fs, getenv: getenv, readFile: os.ReadFile}
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage of %s:\n", name)
		fs.PrintDefaults()
		if len(f.secretUsage) > 0 {
			fmt.Fprintln(fs.Output(), "Secrets (environment only):")
			for _, u := range f.secretUsage {
				fmt.Fprintln(fs.Output(), u)
			}
		}
	}
	return f
}

func (f *FlagSet) bind(name, env string) string {
	if env == "" {
		return ""
	}
	f.envs = append(f.envs, binding{flag: name, env: env})
	return " (env " + env + ")"
}

// StringVar defines a string flag bound to env.
func (f *FlagSet) StringVar(p *string, name, env, def, usage string) {
	f.fs.StringVar(p, name, def, usage+f.bind(name, env))
}

// IntVar defines an int flag bound to env.
func (f *FlagSet) IntVar(p *int, name, env string, def int, usage string) {
	f.fs.IntVar(p, name, def, usage+f.bind(name, env))
}

// Int64Var defines an int64 flag bound to env.
func (f *FlagSet) Int64Var(p *int64, name, env string, def int64, usage string) {
	f.fs.Int64Var(p, name, def, usage+f.bind(name, env))
}

// Float64Var defines a float64 flag bound to env.
func (f *FlagSet) Float64Var(p *float64, name, env string, def float64, usage string) {
	f.fs.Float64Var(p, name, def, usage+f.bind(name, env))
}

// BoolVar defines a bool flag bound to env.
func (f *FlagSet) BoolVar(p *bool, name, env string, def bool, usage string) {
	f.fs.BoolVar(p, name, def, usage+f.bind(name, env))
}

// DurationVar defines a duration flag bound to env.
func (f *FlagSet) DurationVar(p *time.Duration, name, env string, def time.Duration, usage string) {
	f.fs.DurationVar(p, name, def, usage+f.bind(name, env))
}

// Parse parses args, then applies environment variables to every flag not given on the
// command line. A malformed variable is an error that names it.
//
// Secrets come from their variable or the file its _FILE variant names, never from a flag;
// a connection string flag that carries one is refused. Neither error shows the value.
func (f *FlagSet) Parse(args []string) error {
	if err := f.refuseSecretFlags(args); err != nil {
		return err
	}
	if err := f.fs.Parse(args); err != nil {
		return err
	}
	given := map[string]bool{}
	f.fs.Visit(func(fl *flag.Flag) { given[fl.Name] = true })
	for _, c := range f.conns {
		if given[c.name] && c.hasSecret(f.fs.Lookup(c.name).Value.String()) {
			return fmt.Errorf("--%s carries a password or token, visible in ps and shell history: set %s or %s%s instead", c.name, c.env, c.env, FileSuffix)
		}
	}
	for _, s := range f.secrets {
		v, err := lookupSecret(f.getenv, f.readFile, s.env)
		if err != nil {
			return err
		}
		*s.p = v
	}
	conn := map[string]bool{}
	for _, c := range f.conns {
		conn[c.name] = true
	}
	for _, b := range f.envs {
		if given[b.flag] {
			continue
		}
		v := f.getenv(b.env)
		if v == "" && conn[b.flag] {
			var err error
			if v, err = lookupSecret(f.getenv, f.readFile, b.env); err != nil {
				return err
			}
		}
		if v == "" {
			continue
		}
		if err := f.fs.Set(b.flag, v); err != nil {
			return fmt.Errorf("environment variable %s=%q: %w", b.env, v, err)
		}
	}
	return nil
}

// Args returns the arguments left after the flags.
func (f *FlagSet) Args() []string { return f.fs.Args() }

// Usage prints the flags and their variables.
func (f *FlagSet) Usage() { f.fs.Usage() }
