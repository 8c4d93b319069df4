// Package config reads service configuration from flags and environment variables (a flag
// given on the command line wins over its variable, which wins over the default) and holds
// the configuration shared by every sluice service.
package config

import (
	"flag"
	"fmt"
	"io"
	"time"
)

// FlagSet is a flag.FlagSet whose flags can also be set from environment variables.
type FlagSet struct {
	fs     *flag.FlagSet
	getenv func(string) string
	envs   []binding
}

type binding struct{ flag, env string }

// NewFlagSet returns an empty set; getenv is os.Getenv in main and a map lookup in tests.
func NewFlagSet(name string, getenv func(string) string, output io.Writer) *FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(output)
	return &FlagSet{fs: fs, getenv: getenv}
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
func (f *FlagSet) Parse(args []string) error {
	if err := f.fs.Parse(args); err != nil {
		return err
	}
	given := map[string]bool{}
	f.fs.Visit(func(fl *flag.Flag) { given[fl.Name] = true })
	for _, b := range f.envs {
		if given[b.flag] {
			continue
		}
		v := f.getenv(b.env)
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
