package pgload

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Row is one row to load with its lineage.
type Row struct {
	// Values follow Table.Columns, already converted to Go values pgx encodes.
	Values      []any
	RecordID    string
	TraceID     string
	ExtractedAt time.Time
}

// Loader writes rows into PostgreSQL.
type Loader struct {
	pool *pgxpool.Pool
	mu   sync.Mutex
	// ensured remembers the table shapes already migrated by this process.
	ensured map[string]string
}

// New returns a loader over pool.
func New(pool *pgxpool.Pool) *Loader {
	return &Loader{pool: pool, ensured: map[string]string{}}
}

// Ensure creates t or adds its missing columns. Migrations are additive only: a column is
// never dropped or retyped, so an older loader replica keeps working during a rollout.
func (l *Loader) Ensure(ctx context.Context, t Table) error {
	if err := t.Validate(); err != nil {
		return err
	}
	shape := fmt.Sprint(t.Columns, t.PrimaryKey)
	l.mu.Lock()
	done := l.ensured[t.Name] == shape
	l.mu.Unlock()
	if done {
		return nil
	}
	tx, err := l.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", t.Name, err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	// Serialize migrations of one table across loader replicas.
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtext($1))", "sluice.migrate."+t.Name); err != nil {
		return fmt.Errorf("migrate %s: lock: %w", t.Name, err)
	}
	if _, err := tx.Exec(ctx, t.createSQL()); err != nil {
		return fmt.Errorf("migrate %s: create: %w", t.Name, err)
	}
	for _, c := range t.Columns {
		if _, err := tx.Exec(ctx, fmt.Sprintf("ALTER TABLE %s ADD COLUMN IF NOT EXISTS %s %s", quote(t.Name), quote(c.Name), c.Type)); err != nil {
			return fmt.Errorf("migrate %s: add column %s %s: %w", t.Name, c.Name, c.Type, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("migrate %s: commit: %w", t.Name, err)
	}
	l.mu.Lock()
	l.ensured[t.Name] = shape
	l.mu.Unlock()
	return nil
}

// Upsert loads rows into t in one transaction and returns how many rows it wrote (rows
// guarded out because the table holds a newer extraction are not counted). Rows sharing a
// primary key are reduced to the newest extraction first: INSERT … ON CONFLICT cannot
// touch one row twice.
func (l *Loader) Upsert(ctx context.Context, t Table, rows []Row) (int64, error) {
	rows = dedupe(t, rows)
	if len(rows) == 0 {
		return 0, nil
	}
	tx, err := l.pool.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("load %s: begin: %w", t.Name, err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	tmp := "_sluice_stage_" + t.Name
	if len(tmp) > 63 {
		tmp = tmp[:63]
	}
	if _, err := tx.Exec(ctx, fmt.Sprintf("CREATE TEMP TABLE %s (LIKE %s INCLUDING DEFAULTS) ON COMMIT DROP", quote(tmp), quote(t.Name))); err != nil {
		return 0, fmt.Errorf("load %s: temp table: %w", t.Name, err)
	}
	now := time.Now().UTC()
	src := pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
		r := rows[i]
		vals := make([]any, 0, len(r.Values)+4)
		vals = append(vals, r.Values...)
		return append(vals, r.RecordID, nullable(r.TraceID), r.ExtractedAt, now), nil
	})
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{tmp}, t.allColumns(), src); err != nil {
		return 0, fmt.Errorf("load %s: copy: %w", t.Name, err)
	}
	tag, err := tx.Exec(ctx, t.upsertSQL(tmp))
	if err != nil {
		return 0, fmt.Errorf("load %s: upsert: %w", t.Name, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("load %s: commit: %w", t.Name, err)
	}
	return tag.RowsAffected(), nil
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// dedupe keeps, per primary key, the row of the newest extraction (the later one on ties).
func dedupe(t Table, rows []Row) []Row {
	idx := make([]int, len(t.PrimaryKey))
	for i, k := range t.PrimaryKey {
		for j, c := range t.Columns {
			if c.Name == k {
				idx[i] = j
			}
		}
	}
	pos := make(map[string]int, len(rows))
	out := rows[:0:0]
	var key strings.Builder
	for _, r := range rows {
		key.Reset()
		for _, j := range idx {
			fmt.Fprintf(&key, "%v\x00", r.Values[j])
		}
		k := key.String()
		if p, ok := pos[k]; ok {
			if !r.ExtractedAt.Before(out[p].ExtractedAt) {
				out[p] = r
			}
			continue
		}
		pos[k] = len(out)
		out = append(out, r)
	}
	return out
}

// IsPermanent reports whether a load error is caused by the data (a constraint or type
// violation) rather than the database being unavailable: retrying the same rows cannot help.
func IsPermanent(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	// Class 22: data exception; 23: integrity constraint violation; 42: syntax or access rule.
	return strings.HasPrefix(pe.Code, "22") || strings.HasPrefix(pe.Code, "23") || strings.HasPrefix(pe.Code, "42")
}
