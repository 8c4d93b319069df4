package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestRunHelp(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	err := run(context.Background(), []string{"-h"}, func(string) string { return "" }, &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err %v, want flag.ErrHelp", err)
	}
	for _, want := range []string{"SLUICE_SIM_ADDR", "-seed", "-profiles", "-create-profile-rate", "-latency-median",
		"-server-error-rate", "-url-ttl", "-bomb-rate"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage lacks %s", want)
		}
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"bad flag value", []string{"--profiles", "x"}, nil, "invalid value"},
		{"invalid config", []string{"--profiles", "0"}, nil, "Profiles.Count"},
		{"bad env value", nil, map[string]string{"SLUICE_SIM_FAILURE_RATE": "often"}, "SLUICE_SIM_FAILURE_RATE"},
		{"invalid env config", nil, map[string]string{"SLUICE_SIM_FAILURE_RATE": "2"}, "FailureRate"},
		{"bad log level", []string{"--log-level", "loud"}, nil, "log-level"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(context.Background(), tt.args, func(k string) string { return tt.env[k] }, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

// TestRunServesAndShutsDown starts the binary's run on a free port (from
// the environment, overridden by no flag), reads the address from the
// first log line, calls the stats endpoint and cancels.
func TestRunServesAndShutsDown(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	env := map[string]string{"SLUICE_SIM_ADDR": "127.0.0.1:0", "SLUICE_SIM_PROFILES": "3"}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--seed", "9"}, func(k string) string { return env[k] }, pw)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("first log line: %v", err)
	}
	go io.Copy(io.Discard, pr)
	var logged struct {
		Msg      string
		Addr     string
		Profiles int
		Seed     uint64
	}
	if err := json.Unmarshal([]byte(line), &logged); err != nil || logged.Msg != "listening" {
		t.Fatalf("log line %q: %v", line, err)
	}
	if logged.Profiles != 3 || logged.Seed != 9 {
		t.Errorf("flags and env not applied: %s", line)
	}
	resp, err := http.Get("http://" + logged.Addr + "/_sim/stats")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("stats: %d", resp.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run after cancel: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("run did not return after cancel")
	}
}
