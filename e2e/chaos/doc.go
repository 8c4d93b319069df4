// Package chaos runs fault trials of the whole sluice pipeline on real servers: the Amazon
// Ads extractor (several replicas) against its simulator with provider faults on, the
// staging-store, transformer and loader (several replicas each), on private NATS,
// PostgreSQL, FerretDB and versitygw instances that a trial may kill, stop and restart
// without disturbing anyone else's servers.
//
// A trial injects its faults (kill -9 of random service replicas, SIGTERM under load, a
// dependency down for minutes, a JetStream cluster node killed), waits until the pipeline is
// quiet and checks PostgreSQL against the rows the simulator generated: every expected key
// present with its exact values, nothing extra, no report requested twice (but for one its
// creator was killed before recording: see orphanedByKills), nothing
// dead-lettered, and (from a tap on the JetStream ack subjects) how often each message was
// delivered and whether any delivery was spent by a nak.
//
// The integration tests of this package run one small trial of each scenario (`make
// test`); cmd/chaos runs many (`make chaos`).
package chaos
