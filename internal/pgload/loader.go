package pgload

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Loader writes rows into PostgreSQL.
type Loader struct {
	pool *pgxpool.Pool
	mu   sync.Mutex
	// ensured remembers the table shapes already migrated by this process.
	ensured map[string]string
	// direct is, per table, when to try a plain COPY again (see Upsert).
	direct map[string]*directState
}

// New returns a loader over pool.
func New(pool *pgxpool.Pool) *Loader {
	return &Loader{pool: pool, ensured: map[string]string{}, direct: map[string]*directState{}}
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
	for _, stmt := range t.lineageMigrations() {
		if _, err := tx.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("migrate %s: %s: %w", t.Name, stmt, err)
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

// Upsert loads the rows sel of ts (positions from Live or Shards, or a subset of them) and
// returns how many rows it inserted or changed: rows guarded out because the table holds
// newer data, and rows identical to what the table holds (a redelivery or replay), are not
// written at all.
//
// New keys are the common case (a first load, a replay into an emptied table, reports of
// new days), and for them a plain COPY into the table is all the work there is: about
// twice as fast as staging the rows and upserting them. So Upsert first copies straight
// into the table; when any key is already there the COPY fails as a whole on its unique
// index (nothing of it is written), and the rows go the guarded way (see upsert). A table
// whose copies keep meeting existing keys is not tried again for a while.
func (l *Loader) Upsert(ctx context.Context, ts *Tuples, sel []int) (int64, error) {
	if len(sel) == 0 {
		return 0, nil
	}
	t := ts.table
	if l.tryDirect(t.Name) {
		n, err := l.copyNew(ctx, ts, sel)
		l.directDone(t.Name, err)
		if !isUniqueViolation(err) {
			return n, err
		}
	}
	return l.upsert(ctx, ts, sel)
}

// copyNew copies rows whose keys are all new straight into the table. A COPY outside a
// transaction block is a transaction of its own (all rows or none), so it needs no BEGIN
// and COMMIT round trips. Any key already in the table fails it with a unique violation
// (SQLSTATE 23505); a key another transaction is inserting makes it wait for that one's
// outcome, as INSERT does.
func (l *Loader) copyNew(ctx context.Context, ts *Tuples, sel []int) (int64, error) {
	t := ts.table
	conn, err := l.pool.Acquire(ctx)
	if err != nil {
		return 0, fmt.Errorf("load %s: connect: %w", t.Name, err)
	}
	defer conn.Release()
	copySQL := fmt.Sprintf("COPY %s (%s) FROM STDIN WITH (FORMAT binary)", quote(t.Name), quoteAll(t.allColumns()))
	tag, err := conn.Conn().PgConn().CopyFrom(ctx, ts.reader(sel), copySQL)
	if err != nil {
		if schemaChanged(err) {
			l.forget(t.Name)
		}
		return 0, fmt.Errorf("load %s: copy: %w", t.Name, err)
	}
	return tag.RowsAffected(), nil
}

// upsert loads sel in one transaction: a binary COPY into a temporary table, then one
// INSERT … ON CONFLICT DO UPDATE guarded by the data version and extraction time.
func (l *Loader) upsert(ctx context.Context, ts *Tuples, sel []int) (int64, error) {
	t := ts.table
	tx, err := l.pool.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("load %s: begin: %w", t.Name, err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	// One temporary table per connection and table shape, emptied at every commit: no
	// catalog churn per transaction.
	tmp := t.stageName()
	if _, err := tx.Exec(ctx, fmt.Sprintf("CREATE TEMP TABLE IF NOT EXISTS %s (LIKE %s INCLUDING DEFAULTS) ON COMMIT DELETE ROWS", quote(tmp), quote(t.Name))); err != nil {
		if schemaChanged(err) {
			l.forget(t.Name)
		}
		return 0, fmt.Errorf("load %s: temp table: %w", t.Name, err)
	}
	copySQL := fmt.Sprintf("COPY %s (%s) FROM STDIN WITH (FORMAT binary)", quote(tmp), quoteAll(t.allColumns()))
	if _, err := tx.Conn().PgConn().CopyFrom(ctx, ts.reader(sel), copySQL); err != nil {
		return 0, fmt.Errorf("load %s: copy: %w", t.Name, err)
	}
	tag, err := tx.Exec(ctx, t.upsertSQL(tmp))
	if err != nil {
		if schemaChanged(err) {
			l.forget(t.Name)
		}
		return 0, fmt.Errorf("load %s: upsert: %w", t.Name, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("load %s: commit: %w", t.Name, err)
	}
	return tag.RowsAffected(), nil
}

// directState backs off plain copies into a table whose rows keep meeting existing keys
// (re-extractions, redeliveries): a failed copy costs the rows it sent before the conflict.
type directState struct {
	skip, penalty int
}

// maxDirectPenalty bounds the backoff: at worst one failed plain copy per this many loads.
const maxDirectPenalty = 64

func (l *Loader) tryDirect(table string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	d := l.direct[table]
	if d == nil || d.skip == 0 {
		return true
	}
	d.skip--
	return false
}

func (l *Loader) directDone(table string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	d := l.direct[table]
	if d == nil {
		d = &directState{}
		l.direct[table] = d
	}
	switch {
	case err == nil:
		d.penalty = 0
	case isUniqueViolation(err):
		d.penalty = min(max(1, 2*d.penalty), maxDirectPenalty)
		d.skip = d.penalty
	}
}

// isUniqueViolation reports a unique violation (SQLSTATE 23505).
func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// IsPermanent reports whether a load error is caused by the data (class 22, a data
// exception, 23, an integrity constraint violation, or 21000, one key twice in a
// statement, which Tuples prevents but bisecting would also resolve): retrying the same
// rows cannot help, and bisecting finds the rows at fault. Anything else (the server unavailable, a lock
// timeout, a table dropped or altered under the loader, missing privileges) concerns the
// whole statement and is retried.
func IsPermanent(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	return strings.HasPrefix(pe.Code, "22") || strings.HasPrefix(pe.Code, "23") || pe.Code == "21000"
}

// schemaChanged reports an error that says the table is not what Ensure left (dropped, or
// a column removed), so the next attempt must migrate again.
func schemaChanged(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "42P01" || pe.Code == "42703")
}

func (l *Loader) forget(table string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.ensured, table)
}

// Reason describes why the database refused data, for a dead letter: the server's message
// and SQLSTATE (and detail) without the wrapping of the call path.
func Reason(err error) string {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return err.Error()
	}
	r := pe.Message + " (SQLSTATE " + pe.Code + ")"
	if pe.Detail != "" {
		r += ": " + pe.Detail
	}
	return r
}
