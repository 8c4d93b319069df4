package main

import (
	"fmt"
	"net/url"
	"strings"
)

// unreachable turns a driver's connection error (MongoDB's is a topology dump) into one
// line that says what could not be reached, where, and how to point the CLI elsewhere.
func unreachable(what, addr, flag, env string, err error) error {
	// A key=value DSN may hold a password in plain text: name it only when it is a URL.
	if u, perr := url.Parse(addr); perr != nil || u.Scheme == "" {
		addr = "the configured address"
	} else {
		addr = u.Redacted()
	}
	msg := err.Error()
	for _, cut := range []string{", current topology:", "\n"} {
		if i := strings.Index(msg, cut); i > 0 {
			msg = msg[:i]
		}
	}
	return fmt.Errorf("cannot reach %s at %s: %s (point at it with %s or %s, or select a context: sluice context)", what, addr, msg, flag, env)
}
