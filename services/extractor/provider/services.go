package provider

import "github.com/nats-io/nats.go/jetstream"

// Services are the shared stores a provider may use.
type Services struct {
	// Jobs is the sluice-jobs bucket: async report jobs in flight, so a restarted
	// extractor resumes polling instead of requesting a report again.
	Jobs jetstream.KeyValue
	// Checkpoints is the sluice-checkpoints bucket: cursors of backfills and incremental
	// extractions.
	Checkpoints jetstream.KeyValue
}
