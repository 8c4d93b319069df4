package harness

import (
	"context"

	"github.com/sluice-dev/sluice/internal/testinfra"
)

// CreateDatabase creates database name on the server of baseURL and returns its URL, so a
// run gets tables of its own.
func CreateDatabase(ctx context.Context, baseURL, name string) (string, error) {
	return testinfra.CreateDatabase(ctx, baseURL, name)
}

// DropDatabase removes a database made by CreateDatabase.
func DropDatabase(ctx context.Context, baseURL, name string) error {
	return testinfra.DropDatabase(ctx, baseURL, name)
}
