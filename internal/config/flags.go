// Package config reads service configuration from flags and environment variables (a flag
// given on the command line wins over its variable, which wins over the default) and holds
// the configuration shared by every sluice service.
package config

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/pflag"

	"github.com/sluice-dev/sluice/internal/version"
)

// ErrHelp is returned by Parse after -h/--help printed the usage: the caller exits 0.
var ErrHelp = pflag.ErrHelp

// ErrVersion is returned by Parse after --version printed the version: the caller exits 0.
var ErrVersion = errors.New("version requested")

// UsageError is a command line that cannot be parsed (unknown flag, missing or malformed
// value, wrong arguments): the caller exits 2, as command-line tools do.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// Usagef builds a UsageError.
func Usagef(format string, args ...any) error {
	return &UsageError{Err: fmt.Errorf(format, args...)}
}

// FlagSet is a POSIX/GNU-style flag set (pflag: --name value or --name=value, flags
// anywhere among the arguments, -h/--help) whose flags can also be set from environment
// variables. Every set has --version.
type FlagSet struct {
	fs      *pflag.FlagSet
	name    string
	out     io.Writer
	getenv  func(string) string
	envs    []binding
	version bool
}

type binding struct{ flag, env string }

// NewFlagSet returns an empty set; getenv is os.Getenv in main and a map lookup in tests;
// help and version go to out (stdout).
func NewFlagSet(name string, getenv func(string) string, out io.Writer) *FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(out)
	fs.SortFlags = false
	f := &FlagSet{fs: fs, name: name, out: out, getenv: getenv}
	fs.Usage = f.Usage
	fs.BoolVar(&f.version, "version", false, "print the version and exit")
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

// StringArrayVar defines a repeatable string flag bound to env (the variable holds one
// value); every occurrence on the command line adds one value.
func (f *FlagSet) StringArrayVar(p *[]string, name, env string, usage string) {
	f.fs.StringArrayVar(p, name, nil, usage+f.bind(name, env))
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
// command line. It returns ErrHelp or ErrVersion after printing what was asked, a
// *UsageError for a bad command line, and an error naming the variable for a malformed one.
func (f *FlagSet) Parse(args []string) error {
	if err := f.fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return ErrHelp
		}
		return &UsageError{Err: fmt.Errorf("%s: %w (run %s -h for help)", f.name, err, f.name)}
	}
	if f.version {
		fmt.Fprintln(f.out, version.String(f.name))
		return ErrVersion
	}
	for _, b := range f.envs {
		if f.fs.Changed(b.flag) {
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

// Args returns the arguments that are not flags, in order.
func (f *FlagSet) Args() []string { return f.fs.Args() }

// Usage prints the flags and their variables.
func (f *FlagSet) Usage() {
	fmt.Fprintf(f.out, "Usage of %s:\n%s", f.name, f.fs.FlagUsages())
}
