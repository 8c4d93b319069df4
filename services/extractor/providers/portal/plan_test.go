package portal

import (
	"fmt"
	"testing"

	"github.com/sluice-dev/sluice/services/extractor/provider"
)

func TestInterleaveTakesPortalsInTurn(t *testing.T) {
	t.Parallel()
	mk := func(host string, n int) []provider.Task {
		var out []provider.Task
		for i := range n {
			out = append(out, provider.Task{Kind: kindReport, Key: fmt.Sprintf("%s/%d", host, i)})
		}
		return out
	}
	cases := []struct {
		name    string
		perHost [][]provider.Task
		want    string
	}{
		{"none", nil, "[]"},
		{"one portal", [][]provider.Task{mk("a", 2)}, "[a/0 a/1]"},
		{"uneven", [][]provider.Task{mk("a", 3), mk("b", 1), mk("c", 2)}, "[a/0 b/0 c/0 a/1 c/1 a/2]"},
		{"empty portal", [][]provider.Task{nil, mk("b", 2)}, "[b/0 b/1]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var keys []string
			for _, task := range interleave(c.perHost) {
				keys = append(keys, task.Key)
			}
			if got := fmt.Sprint(keys); got != c.want && !(c.want == "[]" && len(keys) == 0) {
				t.Errorf("got %s, want %s", got, c.want)
			}
		})
	}
}
