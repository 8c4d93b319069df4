package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluice-dev/sluice/internal/testinfra"
)

// buildExtract builds the binaries the extraction benchmark runs.
func buildExtract(ctx context.Context, env *Env) error {
	return testinfra.Build(ctx, env.Root, env.Bin, "sluice-extractor", "sluice-sim-amazonads", "sluice")
}

// extractSim is a simulator process and its address.
type extractSim struct {
	*testinfra.Proc
	url string
}

// startExtractSim runs the simulator with the benchmark's workload and the quota on all API
// calls; every other limit is off so that the quota is the only one.
func startExtractSim(env *Env, sc extractScale, large bool, logDir string) (*extractSim, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	args := []string{"--addr", addr, "--log-level", "warn", "--seed", "7",
		"--profiles", strconv.Itoa(sc.profiles), "--agency-share", "0", "--campaigns", "8", "--ad-groups", "3",
		"--latency-median", sc.latencyMedian.String(), "--latency-sigma", "0.5", "--latency-max", sc.latencyMax.String(),
		"--stuck-rate", "0", "--failure-rate", "0", "--exact-file-size=false",
		"--global-client-rate", fmt.Sprint(sc.quota), "--global-client-burst", strconv.Itoa(sc.quotaBurst), "--global-no-retry-after", "0.3",
	}
	if large {
		args = append(args, "--profiles", strconv.Itoa(sc.largeProfiles), "--campaigns", strconv.Itoa(sc.largeCampaigns), "--ad-groups", strconv.Itoa(sc.largeAdGroups))
	}
	for _, class := range []string{"token", "profiles", "create", "status"} {
		args = append(args, "--"+class+"-client-rate", "0")
		if class == "create" || class == "status" {
			args = append(args, "--"+class+"-profile-rate", "0")
		}
	}
	p, err := testinfra.StartProc("sim", filepath.Join(env.Bin, "sluice-sim-amazonads"), args, nil, logDir)
	if err != nil {
		return nil, err
	}
	s := &extractSim{Proc: p, url: "http://" + addr}
	for deadline := time.Now().Add(15 * time.Second); ; {
		if _, err := s.stats(); err == nil {
			return s, nil
		}
		if time.Now().After(deadline) {
			_ = p.Stop(5 * time.Second)
			return nil, fmt.Errorf("simulator did not start: %s", p.Tail(2000))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// extractSimStats is the part of the simulator's /_sim/stats the benchmark reads.
type extractSimStats struct {
	Requests        map[string]map[string]int64 `json:"requests"`
	ReportsCreated  int64                       `json:"reportsCreated"`
	Throttled       int64                       `json:"throttled"`
	DownloadedBytes int64                       `json:"downloadedBytes"`
	Rates           map[string]struct {
		Requests    int64 `json:"requests"`
		Admitted    int64 `json:"admitted"`
		MaxInWindow int64 `json:"maxInWindow"`
		PerSecond   []struct {
			Second   int64 `json:"second"`
			Requests int64 `json:"requests"`
			Admitted int64 `json:"admitted"`
		} `json:"perSecond"`
	} `json:"rates"`
}

func (s *extractSim) stats() (extractSimStats, error) {
	var st extractSimStats
	return st, simStats(s.url, &st)
}

func (s *extractSim) reset() error { return simReset(s.url) }

// simStats reads a simulator's GET /_sim/stats into st.
func simStats(url string, st any) error {
	resp, err := http.Get(url + "/_sim/stats")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("stats: %s", resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(st)
}

// simReset zeroes a simulator's counters (POST /_sim/reset).
func simReset(url string) error {
	resp, err := http.Post(url+"/_sim/reset", "", nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// extractPeakRSSMB reads VmHWM (the peak resident set) of a live process.
func extractPeakRSSMB(pid int) (float64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024, err
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
}

// tasksDrained reports whether the TASKS stream is empty (work queue: acked tasks are
// removed).
func tasksDrained(ctx context.Context, js jetstream.JetStream) (bool, error) {
	s, err := js.Stream(ctx, "TASKS")
	if err != nil {
		return false, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return false, err
	}
	return info.State.Msgs == 0, nil
}

func extractConnectJS(url string) (*nats.Conn, jetstream.JetStream, error) {
	nc, err := nats.Connect(url)
	if err != nil {
		return nil, nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, js, nil
}

// extractServiceEnv is the environment of the extractor processes.
func extractServiceEnv(natsURL string) []string {
	infra := testinfra.Load()
	return []string{
		"SLUICE_NATS_URL=" + natsURL, "SLUICE_HTTP_ADDR=127.0.0.1:0", "SLUICE_LOG_FORMAT=text", "SLUICE_LOG_LEVEL=info",
		"SLUICE_S3_ENDPOINT=" + infra.S3Endpoint, "SLUICE_S3_ACCESS_KEY=" + infra.S3AccessKey,
		"SLUICE_S3_SECRET_KEY=" + infra.S3SecretKey, "SLUICE_S3_REGION=" + infra.S3Region,
		"SLUICE_S3_BUCKET=sluice-bench-claims", "SLUICE_OTLP_ENDPOINT=", "SLUICE_SHUTDOWN_TIMEOUT=5s",
		// The simulator's default credentials.
		"SLUICE_AMAZONADS_CLIENT_ID=amzn1.application-oa2-client.sluicesim",
		"SLUICE_AMAZONADS_CLIENT_SECRET=sluice-sim-secret",
		"SLUICE_AMAZONADS_REFRESH_TOKEN=Atzr|sluice-sim-refresh-token",
	}
}
