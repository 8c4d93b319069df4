package main

import (
	"context"
	"io"
	"log/slog"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluice-dev/sluice/internal/bus"
	"github.com/sluice-dev/sluice/internal/config"
	"github.com/sluice-dev/sluice/internal/redact"
)

// natsFlags registers --nats-url and the NATS auth and TLS settings on fs.
func natsFlags(fs *config.FlagSet, n *config.NATS) {
	n.RegisterURL(fs, "nats://127.0.0.1:14222", "NATS server URL (default: the local servers of deploy/local; see sluice context)")
}

func connect(ctx context.Context, n config.NATS, stderr io.Writer) (*nats.Conn, jetstream.JetStream, error) {
	if err := n.Validate(); err != nil {
		return nil, nil, err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	nc, js, err := bus.Connect(ctx, n, "sluice-cli", log)
	if err != nil {
		return nil, nil, unreachable("NATS", redact.URLList(n.URL), "--nats-url", "SLUICE_NATS_URL", err)
	}
	return nc, js, nil
}
