package redact

import "github.com/jackc/pgx/v5/pgconn"

func pgParse(s string) (*pgconn.Config, error) { return pgconn.ParseConfig(s) }
