// Command ferretdb-sluice runs FerretDB (MongoDB wire protocol) embedded, for local
// development and tests. Building FerretDB's own command from the module proxy needs a
// generated version file that the module zip lacks; embedding avoids that.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "ferretdb:", err)
		os.Exit(1)
	}
}

func run() error {
	listen := flag.String("listen-addr", "127.0.0.1:27017", "MongoDB wire protocol listen address")
	handler := flag.String("handler", "sqlite", "storage handler: sqlite or postgresql")
	sqliteURL := flag.String("sqlite-url", "", "SQLite directory URL, e.g. file:/data/ (must end with /)")
	pgURL := flag.String("postgresql-url", "", "PostgreSQL URL for the postgresql handler")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:      ferretdb.ListenerConfig{TCP: *listen},
		Logger:        logger,
		Handler:       *handler,
		SQLiteURL:     *sqliteURL,
		PostgreSQLURL: *pgURL,
	})
	if err != nil {
		return fmt.Errorf("configure: %w", err)
	}
	if err := f.Run(ctx); err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}
