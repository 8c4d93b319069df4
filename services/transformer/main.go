// Command sluice-transformer turns staged raw records into typed row batches by applying
// each dataset's spec (parse, map, validate), streaming rows out of payloads of any size.
package main

import "github.com/sluice-dev/sluice/internal/service"

func main() { service.Main(run) }
