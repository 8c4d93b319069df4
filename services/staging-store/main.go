// Command sluice-staging-store writes every raw record to the document store, insert-only
// and idempotent, and publishes it to STAGED once the write is acknowledged.
package main

import "github.com/sluice-dev/sluice/internal/service"

func main() { service.Main(run) }
