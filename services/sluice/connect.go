package main

import (
	"context"
	"io"
	"log/slog"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluice-dev/sluice/internal/bus"
	"github.com/sluice-dev/sluice/internal/config"
)

// natsFlags registers --nats-url and the NATS auth and TLS settings on fs.
func natsFlags(fs *config.FlagSet, n *config.NATS) { n.Register(fs) }

func connect(ctx context.Context, n config.NATS, stderr io.Writer) (*nats.Conn, jetstream.JetStream, error) {
	if err := n.Validate(); err != nil {
		return nil, nil, err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return bus.Connect(ctx, n, "sluice-cli", log)
}
