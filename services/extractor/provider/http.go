package provider

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluice-dev/sluice/internal/apiclient"
	"github.com/sluice-dev/sluice/internal/ratelimit"
)

// HTTPSpec declares the rate-governed HTTP client a provider gets as Services.HTTP: its
// limits, its retry policy and its credentials hook. The SDK builds the client; a provider
// never builds one itself, so no call can bypass the limits shared by its replicas.
type HTTPSpec struct {
	// Limits are the quotas (requests per second, optionally per key such as a profile),
	// and the per-host concurrency caps. Namespace is set by the SDK to the provider name,
	// so every replica of the provider shares them.
	Limits ratelimit.Config
	// Client tunes retries and backoff; zero fields take apiclient's defaults.
	Client apiclient.Config
	// Authorizer, when set, builds the credentials hook from the provider's secrets.
	// tokens is a governed client without the hook, for the token endpoint; it draws
	// from Client.Quota unless the request is made through a governed Do.
	Authorizer func(getenv func(string) string, tokens *http.Client) (apiclient.Authorizer, error)
}

// HTTPDeps are what NewHTTP needs besides the spec.
type HTTPDeps struct {
	// JS holds the shared limit state; nil keeps it in this process (tests, tools).
	JS     jetstream.JetStream
	Getenv func(string) string
	Log    *slog.Logger
	// Transport replaces the network transport under the governor (tests).
	Transport http.RoundTripper
}

// NewHTTP builds provider name's governed client. The caller closes the governor when
// the provider stops.
func NewHTTP(ctx context.Context, name string, hs HTTPSpec, d HTTPDeps) (*apiclient.Client, *ratelimit.Governor, error) {
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	gov, err := NewGovernor(ctx, name, hs.Limits, d.JS, d.Log)
	if err != nil {
		return nil, nil, err
	}
	opts := []apiclient.Option{apiclient.WithLogger(d.Log)}
	if d.Transport != nil {
		opts = append(opts, apiclient.WithTransport(d.Transport))
	}
	if hs.Authorizer != nil {
		tokens, err := apiclient.New(hs.Client, gov, opts...)
		if err != nil {
			gov.Close()
			return nil, nil, fmt.Errorf("provider %s: token client: %w", name, err)
		}
		getenv := d.Getenv
		if getenv == nil {
			getenv = func(string) string { return "" }
		}
		a, err := hs.Authorizer(getenv, tokens.HTTPClient())
		if err != nil {
			gov.Close()
			return nil, nil, fmt.Errorf("provider %s: credentials: %w", name, err)
		}
		if a == nil {
			gov.Close()
			return nil, nil, errors.New("provider " + name + ": Authorizer returned nil")
		}
		opts = append(opts, apiclient.WithAuthorizer(a))
	}
	c, err := apiclient.New(hs.Client, gov, opts...)
	if err != nil {
		gov.Close()
		return nil, nil, fmt.Errorf("provider %s: http client: %w", name, err)
	}
	return c, gov, nil
}

// NewGovernor builds provider name's governor over lim: its state is shared with every
// replica through js (the sluice-limits bucket), or kept in this process when js is nil
// (tests, tools). The caller closes it when the provider stops.
func NewGovernor(ctx context.Context, name string, lim ratelimit.Config, js jetstream.JetStream, log *slog.Logger) (*ratelimit.Governor, error) {
	lim.Namespace = name
	if lim.Logger == nil {
		lim.Logger = log
	}
	var (
		gov *ratelimit.Governor
		err error
	)
	if js != nil {
		gov, err = ratelimit.New(ctx, js, lim)
	} else {
		gov, err = ratelimit.NewLocal(lim)
	}
	if err != nil {
		return nil, fmt.Errorf("provider %s: rate governor: %w", name, err)
	}
	return gov, nil
}
