package rest

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/sluice-dev/sluice/services/extractor/provider"
)

// placeholder is {trigger.from}, {trigger.to} or {trigger.params.NAME} in a parameter.
var placeholder = regexp.MustCompile(`\{([^{}]*)\}`)

func checkTemplate(v string) error {
	for _, m := range placeholder.FindAllStringSubmatch(v, -1) {
		name := m[1]
		if name != "trigger.from" && name != "trigger.to" && (!strings.HasPrefix(name, "trigger.params.") || name == "trigger.params.") {
			return fmt.Errorf("unknown placeholder {%s}: want {trigger.from}, {trigger.to} or {trigger.params.NAME}", name)
		}
	}
	return nil
}

// expand fills v's placeholders from t; ok is false when one refers to an absent value,
// and the parameter is then left out.
func expand(v string, t provider.Trigger) (out string, ok bool) {
	ok = true
	out = placeholder.ReplaceAllStringFunc(v, func(m string) string {
		name := m[1 : len(m)-1]
		var val string
		switch {
		case name == "trigger.from" && !t.From.IsZero():
			val = t.From.UTC().Format("2006-01-02")
		case name == "trigger.to" && !t.To.IsZero():
			val = t.To.UTC().Format("2006-01-02")
		case strings.HasPrefix(name, "trigger.params."):
			val = t.Params[strings.TrimPrefix(name, "trigger.params.")]
		}
		if val == "" {
			ok = false
		}
		return val
	})
	return out, ok
}
