package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"time"
)

// Span is a span as Jaeger's query API returns it, with its service resolved.
type Span struct {
	TraceID   string
	SpanID    string
	Name      string
	Service   string
	StartTime time.Time
}

type jaegerResponse struct {
	Data []struct {
		TraceID string `json:"traceID"`
		Spans   []struct {
			TraceID       string `json:"traceID"`
			SpanID        string `json:"spanID"`
			OperationName string `json:"operationName"`
			StartTime     int64  `json:"startTime"` // microseconds
			ProcessID     string `json:"processID"`
		} `json:"spans"`
		Processes map[string]struct {
			ServiceName string `json:"serviceName"`
		} `json:"processes"`
	} `json:"data"`
}

// Trace fetches one trace from Jaeger's HTTP query API, spans sorted by start time.
func Trace(ctx context.Context, jaegerURL, traceID string) ([]Span, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, jaegerURL+"/api/traces/"+traceID, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("jaeger: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil, nil
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("jaeger: GET trace %s: %s", traceID, resp.Status)
	}
	var jr jaegerResponse
	if err := json.NewDecoder(resp.Body).Decode(&jr); err != nil {
		return nil, fmt.Errorf("jaeger: decode trace %s: %w", traceID, err)
	}
	var spans []Span
	for _, tr := range jr.Data {
		for _, s := range tr.Spans {
			spans = append(spans, Span{
				TraceID: s.TraceID, SpanID: s.SpanID, Name: s.OperationName,
				Service: tr.Processes[s.ProcessID].ServiceName, StartTime: time.UnixMicro(s.StartTime),
			})
		}
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].StartTime.Before(spans[j].StartTime) })
	return spans, nil
}

// Stages returns, for each service in spans, the time of its first span: the order in which
// the record went through the services.
func Stages(spans []Span) []string {
	var order []string
	seen := map[string]bool{}
	for _, s := range spans {
		if !seen[s.Service] {
			seen[s.Service] = true
			order = append(order, s.Service)
		}
	}
	return order
}

// JaegerLink is the UI address of a trace.
func JaegerLink(jaegerURL, traceID string) string { return jaegerURL + "/trace/" + traceID }
