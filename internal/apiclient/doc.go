// Package apiclient is the rate-governed HTTP client that every provider uses to call
// its API: providers receive a *Client, never a bare http.Client, so no request can
// bypass the shared limits of internal/ratelimit.
//
// Each physical request (first attempt, retries, redirects) holds a governor permit:
// the provider's quota, the caller's per-key limit (WithKey, e.g. a profile id) and the
// host's concurrency slot, from before it is sent until its response body is closed.
// A 429 is reported to the governor at once (shared pause and rate decrease) and
// retried after Retry-After or a jittered backoff; 5xx, timeouts and connection errors
// are retried with jittered exponential backoff; other 4xx are returned as
// *StatusError without retry; a 401 makes the Authorizer refresh the credentials once
// for all concurrent calls. Requests carry a User-Agent and W3C trace context and run
// in OpenTelemetry client spans; metrics count requests by status, 429s, retries and
// bytes received. A response body that sends no byte for Config.IdleReadTimeout while
// it is being read is closed, releasing its slot, and the read fails with an
// *IdleTimeoutError (errors.Is ErrIdleTimeout).
//
//	c, err := apiclient.New(apiclient.Config{Quota: "status"}, gov, apiclient.WithAuthorizer(lwa))
//	resp, err := c.Do(ctx, req, apiclient.WithKey(profileID))
//	if err != nil { … errors.As(err, &statusErr) … }
//	defer resp.Body.Close()
package apiclient
