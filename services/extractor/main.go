// Command sluice-extractor runs one provider (--provider): it registers the provider's
// dataset specs, takes its tasks off the TASKS stream and publishes raw records to RAW.
// Each provider is deployed as its own Deployment of this binary.
package main

import "github.com/sluice-dev/sluice/internal/lifecycle"

func main() { lifecycle.Main(run) }
