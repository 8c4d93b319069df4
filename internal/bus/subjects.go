// Package bus is sluice's use of NATS JetStream: the named streams and buckets, subjects,
// publishing with dedupe ids and trace headers, and pull-consumer loops that ack only after
// a handler succeeded, nak transient failures with backoff and send permanent ones to the DLQ.
package bus

import "strings"

// Stream names fixed by the architecture.
const (
	StreamTasks  = "TASKS"
	StreamRaw    = "RAW"
	StreamStaged = "STAGED"
	StreamRows   = "ROWS"
	StreamDLQ    = "DLQ"
	// StreamEvents keeps trigger events until an extractor of their provider plans them,
	// so an event sent while none runs (scaled to zero, rolling out) is not lost.
	StreamEvents = "EVENTS"
)

// Key-value buckets fixed by the architecture.
const (
	BucketSpecs       = "sluice-specs"
	BucketLimits      = "sluice-limits"
	BucketJobs        = "sluice-jobs"
	BucketCheckpoints = "sluice-checkpoints"
)

// Headers sluice sets on every message besides the trace context.
const (
	HeaderMsgID    = "Nats-Msg-Id"
	HeaderRecordID = "Sluice-Record-Id"
	HeaderProvider = "Sluice-Provider"
	HeaderDataset  = "Sluice-Dataset"
	HeaderReplay   = "Sluice-Replay"
)

// TaskSubject is where tasks of provider travel.
func TaskSubject(provider string) string { return "sluice.task." + provider }

// EventSubject is where event name (one or more dot-separated tokens, e.g.
// "profile.changed") for provider travels.
func EventSubject(provider, name string) string { return "sluice.event." + provider + "." + name }

// EventFilter matches every event of provider.
func EventFilter(provider string) string { return "sluice.event." + provider + ".>" }

// RawSubject is where raw records of provider/dataset travel.
func RawSubject(provider, dataset string) string { return "sluice.raw." + provider + "." + dataset }

// StagedSubject is where staged records of provider/dataset travel.
func StagedSubject(provider, dataset string) string {
	return "sluice.staged." + provider + "." + dataset
}

// RowsSubject is where row batches for table travel.
func RowsSubject(table string) string { return "sluice.rows." + table }

// DLQSubject is where failures of stage for provider/dataset go.
func DLQSubject(stage, provider, dataset string) string {
	return "sluice.dlq." + stage + "." + token(provider) + "." + token(dataset)
}

// ProviderDataset returns the provider and dataset tokens of a raw or staged subject.
func ProviderDataset(subject string) (provider, dataset string, ok bool) {
	parts := strings.Split(subject, ".")
	if len(parts) != 4 || parts[0] != "sluice" || (parts[1] != "raw" && parts[1] != "staged") {
		return "", "", false
	}
	return parts[2], parts[3], true
}

func token(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
