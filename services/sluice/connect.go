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

// natsFlags registers --nats-url on fs.
func natsFlags(fs *config.FlagSet, url *string) {
	fs.StringVar(url, "nats-url", "SLUICE_NATS_URL", "nats://127.0.0.1:14222", "NATS server URL (default: the local servers of deploy/local; see sluice context)")
}

func connect(ctx context.Context, url string, stderr io.Writer) (*nats.Conn, jetstream.JetStream, error) {
	if err := config.ValidateNATSURL(url); err != nil {
		return nil, nil, err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	nc, js, err := bus.Connect(ctx, url, "sluice-cli", log)
	if err != nil {
		return nil, nil, unreachable("NATS", url, "--nats-url", "SLUICE_NATS_URL", err)
	}
	return nc, js, nil
}
