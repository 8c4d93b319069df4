// Package e2e holds the extractor's end-to-end tests: the amazonads provider against the
// simulator, with real extractor and staging-store processes, real NATS (a private
// server per test), MongoDB and S3. They check what issue "Extraction at the quota"
// asks: the exact rows staged, a shared quota never exceeded by three replicas, no report
// requested twice across a kill -9, throttling and download faults ridden out.
package e2e
