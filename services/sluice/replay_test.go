package main

import (
	"io"
	"strings"
	"testing"
	"time"
)

func TestParseReplayConfig(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		args    []string
		wantErr string
		check   func(t *testing.T, c replayConfig)
	}{
		{name: "provider only", args: []string{"--provider", "acme"}, check: func(t *testing.T, c replayConfig) {
			if c.Provider != "acme" || c.ID == "" || !c.Filter.Since.IsZero() {
				t.Errorf("%+v", c)
			}
		}},
		{name: "window and run", args: []string{"--provider", "acme", "--dataset", "orders", "--since", "2025-03-01", "--until", "2025-03-02T12:00:00Z", "--run", "r1", "--replay-id", "fix-42"},
			check: func(t *testing.T, c replayConfig) {
				if !c.Filter.Since.Equal(time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)) || !c.Filter.Until.Equal(time.Date(2025, 3, 2, 12, 0, 0, 0, time.UTC)) ||
					c.Filter.RunID != "r1" || c.Filter.Dataset != "orders" || c.ID != "fix-42" {
					t.Errorf("%+v", c)
				}
			}},
		{name: "no provider", args: nil, wantErr: "--provider is required"},
		{name: "bad provider", args: []string{"--provider", "a.b"}, wantErr: "--provider"},
		{name: "bad time", args: []string{"--provider", "acme", "--since", "yesterday"}, wantErr: "--since"},
		{name: "inverted window", args: []string{"--provider", "acme", "--since", "2025-03-02", "--until", "2025-03-01"}, wantErr: "--since/--until"},
		{name: "bad replay id", args: []string{"--provider", "acme", "--replay-id", "a b"}, wantErr: "--replay-id"},
		{name: "stray argument", args: []string{"--provider", "acme", "extra"}, wantErr: "unexpected arguments"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			env := &cliEnv{getenv: func(string) string { return "" }, stdout: io.Discard, stderr: io.Discard}
			cfg, err := parseReplayConfig(env, c.args)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error %v, want one mentioning %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c.check(t, cfg)
		})
	}
}

func TestReplayProgress(t *testing.T) {
	t.Parallel()
	counted := func(n int64) chan int64 {
		c := make(chan int64, 1)
		c <- n
		return c
	}
	for _, c := range []struct {
		name    string
		counted chan int64
		want    string
	}{
		{"counted", counted(10), "replayed 10/10 records (100%), "},
		// Records staged after the count are replayed too: never more than 100 %.
		{"staged since the count", counted(8), "replayed 10/10 records (100%), "},
		{"count failed", counted(-1), "replayed 10 records, "},
	} {
		t.Run(c.name, func(t *testing.T) {
			var b strings.Builder
			p := newReplayProgress(&b, c.counted, time.Hour)
			p.update(5) // within the interval: nothing printed
			if b.Len() != 0 {
				t.Errorf("printed %q before the interval", b.String())
			}
			p.update(10)
			p.done()
			if !strings.HasPrefix(b.String(), c.want) || !strings.HasSuffix(b.String(), " records/s\n") {
				t.Errorf("final progress %q, want %q…", b.String(), c.want)
			}
		})
	}
	t.Run("total not counted yet", func(t *testing.T) {
		var b strings.Builder
		late := make(chan int64, 1)
		p := newReplayProgress(&b, late, 0)
		p.update(3)
		if !strings.HasPrefix(b.String(), "replayed 3 records, ") {
			t.Errorf("progress before the count %q", b.String())
		}
		late <- 7
		b.Reset()
		p.update(7)
		if !strings.HasPrefix(b.String(), "replayed 7/7 records (100%), ") {
			t.Errorf("progress after the count %q", b.String())
		}
	})
	// Every record was printed before the count came in: the final line shows the total.
	t.Run("count comes in after the last record", func(t *testing.T) {
		var b strings.Builder
		late := make(chan int64, 1)
		p := newReplayProgress(&b, late, 0)
		p.update(2)
		late <- 2
		b.Reset()
		p.done()
		if !strings.HasPrefix(b.String(), "replayed 2/2 records (100%), ") {
			t.Errorf("final progress %q, want the total", b.String())
		}
	})
}
