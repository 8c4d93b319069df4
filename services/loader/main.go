// Command sluice-loader bulk-upserts row batches from the ROWS stream into PostgreSQL,
// creating and migrating tables from the dataset specs, and acks each message only after
// the transaction holding its rows has committed.
package main

import "github.com/sluice-dev/sluice/internal/service"

func main() { service.Main(run) }
