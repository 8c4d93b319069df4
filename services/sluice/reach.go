package main

import (
	"fmt"
	"strings"
)

// unreachable turns a driver's connection error (MongoDB's is a topology dump) into one
// line that says what could not be reached, where, and how to point the CLI elsewhere.
// shown is the address already redacted by its driver's parser (internal/redact).
func unreachable(what, shown, flag, env string, err error) error {
	addr := shown
	msg := err.Error()
	for _, cut := range []string{", current topology:", "\n"} {
		if i := strings.Index(msg, cut); i > 0 {
			msg = msg[:i]
		}
	}
	return fmt.Errorf("cannot reach %s at %s: %s (point at it with %s or %s, or select a context: sluice context)", what, addr, msg, flag, env)
}
