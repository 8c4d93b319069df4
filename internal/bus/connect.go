package bus

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluice-dev/sluice/internal/config"
	"github.com/sluice-dev/sluice/internal/redact"
)

// Connect opens a NATS connection that reconnects forever and returns its JetStream
// context. name identifies the service in the server's connection list and prefixes its
// reply subjects (_INBOX.<name>.…), so a NATS user may be allowed to subscribe to its own
// replies only (helm/sluice/files/nats). Every sluice process (services and CLI) connects
// here, so each auth method and TLS works for all.
func Connect(ctx context.Context, cfg config.NATS, name string, log *slog.Logger) (*nats.Conn, jetstream.JetStream, error) {
	url := redact.URLList(cfg.URL)
	opts := []nats.Option{
		nats.Name(name),
		nats.CustomInboxPrefix(InboxPrefix(name)),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.RetryOnFailedConnect(false),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("nats reconnected", "url", c.ConnectedUrlRedacted()) }),
	}
	auth, err := authOptions(cfg)
	if err != nil {
		return nil, nil, err
	}
	nc, err := nats.Connect(cfg.URL, append(opts, auth...)...)
	if err != nil {
		return nil, nil, fmt.Errorf("connect nats %s: %w", url, err)
	}
	js, err := NewJetStream(nc)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("jetstream: %w", err)
	}
	if _, err := js.AccountInfo(ctx); err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("jetstream at %s: %w (is the server started with -js?)", url, err)
	}
	return nc, js, nil
}

// InboxPrefix is the prefix of the reply subjects of the process named name.
func InboxPrefix(name string) string { return "_INBOX." + kvToken(name) }

// authOptions turns the configured auth method and TLS files into connect options.
func authOptions(cfg config.NATS) ([]nats.Option, error) {
	var opts []nats.Option
	switch {
	case cfg.User != "":
		opts = append(opts, nats.UserInfo(cfg.User, cfg.Password))
	case cfg.Token != "":
		opts = append(opts, nats.Token(cfg.Token))
	case cfg.NKeyFile != "":
		o, err := nats.NkeyOptionFromSeed(cfg.NKeyFile)
		if err != nil {
			return nil, fmt.Errorf("--nats-nkey-file %s: %w", cfg.NKeyFile, err)
		}
		opts = append(opts, o)
	case cfg.CredsFile != "":
		opts = append(opts, nats.UserCredentials(cfg.CredsFile))
	}
	if cfg.CAFile != "" {
		opts = append(opts, nats.RootCAs(cfg.CAFile))
	}
	if cfg.CertFile != "" {
		opts = append(opts, nats.ClientCert(cfg.CertFile, cfg.KeyFile))
	}
	return opts, nil
}

// ReadyCheck reports whether the connection is up, for /readyz.
func ReadyCheck(nc *nats.Conn) func(context.Context) error {
	return func(context.Context) error {
		if !nc.IsConnected() {
			return fmt.Errorf("nats: %s", nc.Status())
		}
		return nil
	}
}

// PublishAckTimeout bounds the wait for a stream's acknowledgement of an asynchronous
// publish. Without it a publish whose ack was lost (a cluster node died holding the stream
// leader) waits forever, and the message being handled with it hangs in progress.
const PublishAckTimeout = 30 * time.Second

// NewJetStream is the JetStream context every sluice process uses on nc: no request
// waits for a lost reply longer than RequestTimeout, nor an async publish for its
// acknowledgement longer than PublishAckTimeout.
func NewJetStream(nc *nats.Conn) (jetstream.JetStream, error) {
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncTimeout(PublishAckTimeout))
	if err != nil {
		return nil, err
	}
	return boundedJS{js}, nil
}
