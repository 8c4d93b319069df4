package provider

import (
	"github.com/sluice-dev/sluice/internal/apiclient"
	"github.com/sluice-dev/sluice/internal/ratelimit"
	"github.com/sluice-dev/sluice/services/extractor/provider/checkpoint"
	"github.com/sluice-dev/sluice/services/extractor/provider/jobs"
)

// Services are the shared facilities a provider uses. Each is nil when the provider did
// not ask for it (HTTP needs Spec.HTTP).
type Services struct {
	// HTTP is the rate-governed client: every HTTP call of a provider goes through it.
	// Its quota, per-key limits and host caps are shared by all replicas of the provider.
	HTTP *apiclient.Client
	// Jobs tracks async report jobs in the sluice-jobs bucket, so a restarted extractor
	// resumes polling instead of requesting a report again.
	Jobs *jobs.Store
	// Checkpoints keeps cursors of backfills and incremental extractions in the
	// sluice-checkpoints bucket.
	Checkpoints *checkpoint.Store
	// Limits is the governor of a provider that declared Spec.Limits: every query or
	// request to the source takes a permit from it (Acquire, then Release), so the source
	// never sees more than the declared concurrency from all replicas together.
	Limits *ratelimit.Governor
}
