// Command sluice is the operator's CLI: provision streams and buckets, start runs, replay
// staged data, inspect the DLQ, watch progress and trace a row to its source.
package main

import "github.com/sluice-dev/sluice/internal/service"

func main() { service.Main(run) }
