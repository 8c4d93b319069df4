package provider

import (
	"strings"
	"testing"
	"time"
)

func TestRunnerConfigValidate(t *testing.T) {
	t.Parallel()
	ok := RunnerConfig{Workers: 4, MaxDeliver: 6, AckWait: 30 * time.Second, InlineLimit: 512 << 10, DrainTimeout: time.Second}
	for _, tc := range []struct {
		name   string
		mutate func(*RunnerConfig)
		want   string // a flag the error names; empty: valid
	}{
		{"valid", func(*RunnerConfig) {}, ""},
		{"task timeout default", func(c *RunnerConfig) { c.TaskTimeout = 0 }, ""},
		{"task timeout set", func(c *RunnerConfig) { c.TaskTimeout = 10 * time.Minute }, ""},
		{"task timeout too short", func(c *RunnerConfig) { c.TaskTimeout = 500 * time.Millisecond }, "--task-timeout"},
		{"task timeout negative", func(c *RunnerConfig) { c.TaskTimeout = -time.Minute }, "--task-timeout"},
		{"no workers", func(c *RunnerConfig) { c.Workers = 0 }, "--workers"},
		{"short ack wait", func(c *RunnerConfig) { c.AckWait = time.Second }, "--ack-wait"},
		{"inline limit", func(c *RunnerConfig) { c.InlineLimit = 10 }, "--inline-limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := ok
			tc.mutate(&c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Validate() = %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("Validate() = %v, want it to name %s", err, tc.want)
			}
		})
	}
	if got := (RunnerConfig{}).WithDefaults().TaskTimeout; got != DefaultTaskTimeout {
		t.Errorf("default task timeout %v, want %v", got, DefaultTaskTimeout)
	}
}
