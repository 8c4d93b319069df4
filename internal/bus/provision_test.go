package bus

import (
	"strings"
	"testing"
	"time"
)

func TestProvisionConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		change  func(*ProvisionConfig)
		wantErr string
	}{
		{"default", func(*ProvisionConfig) {}, ""},
		{"no replicas", func(c *ProvisionConfig) { c.Replicas = 0 }, "replicas"},
		{"too many replicas", func(c *ProvisionConfig) { c.Replicas = 7 }, "replicas"},
		{"no max age", func(c *ProvisionConfig) { c.MaxAge = 0 }, "max age"},
		{"no DLQ max age", func(c *ProvisionConfig) { c.DLQMaxAge = 0 }, "max age"},
		{"unbounded DLQ", func(c *ProvisionConfig) { c.DLQMaxBytes = 0 }, "DLQ max bytes"},
		{"unlimited DLQ (-1)", func(c *ProvisionConfig) { c.DLQMaxBytes = -1 }, "DLQ max bytes"},
		{"DLQ smaller than a few messages", func(c *ProvisionConfig) { c.DLQMaxBytes = 1 << 20 }, "DLQ max bytes"},
		{"smallest DLQ", func(c *ProvisionConfig) { c.DLQMaxBytes = minDLQMaxBytes }, ""},
		{"duplicate window beyond retention", func(c *ProvisionConfig) { c.DuplicateWindow = 8 * 24 * time.Hour }, "duplicate window"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := DefaultProvision()
			tt.change(&c)
			err := c.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Validate = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Validate = %v, want an error about %q", err, tt.wantErr)
			}
		})
	}
}
