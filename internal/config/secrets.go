package config

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
)

// Secrets are read only from the environment: the variable itself, or the file its
// _FILE variant names (a Kubernetes Secret mounted as a file). A command-line flag would be
// visible to every user of the machine in ps and in shell history.

// FileSuffix turns a variable name into the one naming a file that holds its value.
const FileSuffix = "_FILE"

// EnvFiles is a getenv that falls back to NAME_FILE for an empty NAME, for the secrets a
// provider reads through its getenv. A file that cannot be read is recorded in Err, which
// the caller checks once the secrets are read.
type EnvFiles struct {
	getenv   func(string) string
	readFile func(string) ([]byte, error)
	mu       sync.Mutex
	errs     []error
}

// NewEnvFiles wraps getenv.
func NewEnvFiles(getenv func(string) string) *EnvFiles {
	return &EnvFiles{getenv: getenv, readFile: os.ReadFile}
}

// Getenv returns NAME, or the contents of the file NAME_FILE names (one trailing newline
// removed), or "".
func (e *EnvFiles) Getenv(name string) string {
	v, err := lookupSecret(e.getenv, e.readFile, name)
	if err != nil {
		e.mu.Lock()
		e.errs = append(e.errs, err)
		e.mu.Unlock()
	}
	return v
}

// Err joins the errors of files that could not be read.
func (e *EnvFiles) Err() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return errors.Join(e.errs...)
}

func lookupSecret(getenv func(string) string, readFile func(string) ([]byte, error), name string) (string, error) {
	if v := getenv(name); v != "" {
		return v, nil
	}
	path := getenv(name + FileSuffix)
	if path == "" {
		return "", nil
	}
	b, err := readFile(path)
	if err != nil {
		// The path is not secret; the error of os.ReadFile names it.
		return "", fmt.Errorf("%s%s: %w", name, FileSuffix, err)
	}
	return strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r"), nil
}

// secretBinding is a value that has no flag: only its variable or the variable's file.
type secretBinding struct {
	p         *string
	name, env string
}

// connBinding is a flag whose command-line value must not carry a secret (a connection
// string with a password); its variables may.
type connBinding struct {
	name, env string
	hasSecret func(string) bool
}

// SecretVar defines a secret read from env or the file env_FILE names, never from a flag:
// --name on the command line is refused with an error that says where it goes instead.
func (f *FlagSet) SecretVar(p *string, name, env, usage string) {
	f.secrets = append(f.secrets, secretBinding{p: p, name: name, env: env})
	f.secretUsage = append(f.secretUsage, fmt.Sprintf("  %s or %s%s\n    \t%s", env, env, FileSuffix, usage))
}

// ConnStringVar defines a connection string flag bound to env (and env_FILE). A value
// given on the command line for which hasSecret is true is refused: put it in the
// variable or its file, and keep the flag for strings without a password.
func (f *FlagSet) ConnStringVar(p *string, name, env, def, usage string, hasSecret func(string) bool) {
	f.StringVar(p, name, env, def, usage+"; a password or token only through "+env+" or "+env+FileSuffix)
	f.conns = append(f.conns, connBinding{name: name, env: env, hasSecret: hasSecret})
}

// refuseSecretFlags finds a secret given as a flag before flag.Parse would echo it.
func (f *FlagSet) refuseSecretFlags(args []string) error {
	for _, a := range args {
		if a == "--" {
			return nil
		}
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") {
			continue
		}
		for _, s := range f.secrets {
			if name == s.name {
				return fmt.Errorf("--%s: secrets are not accepted as flags (visible in ps and shell history); set %s or %s%s", s.name, s.env, s.env, FileSuffix)
			}
		}
	}
	return nil
}
