// Package sqlcopytest is the sqlcopy provider's test support, shared by its integration
// tests, the extractor's conformance case, the end-to-end test and the bench: a source
// database of its own on the test server, generated tables of every key type (wide rows
// included), and a row-by-row comparison of a source table with its copy.
package sqlcopytest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/sluice-dev/sluice/internal/testinfra"
	"github.com/sluice-dev/sluice/services/extractor/providers/sqlcopy"
)

// Source creates a source database of the test's own on the local PostgreSQL (dropped
// at its end) and returns its URL and a connection to it. It skips or fails the test as
// testinfra.Require says when PostgreSQL is not there.
func Source(t testing.TB) (string, *pgx.Conn) {
	t.Helper()
	env := testinfra.Require(t, testinfra.Postgres)
	ctx := context.Background()
	name := fmt.Sprintf("sluice_sqlsrc_%d", rand.Uint32())
	srcURL, err := testinfra.CreateDatabase(ctx, env.PostgresURL, name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = testinfra.DropDatabase(context.Background(), env.PostgresURL, name) })
	conn, err := pgx.Connect(ctx, srcURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return srcURL, conn
}

// KeyKind names the key of a generated table.
type KeyKind string

// Key kinds of generated tables.
const (
	KeyInt       KeyKind = "int"       // id bigint, with gaps
	KeyText      KeyKind = "text"      // code text, in an order unrelated to insertion
	KeyUUID      KeyKind = "uuid"      // id uuid
	KeyTimestamp KeyKind = "timestamp" // at timestamptz
	KeyComposite KeyKind = "composite" // (order_id integer, line integer)
)

// KeyKinds lists every key kind.
var KeyKinds = []KeyKind{KeyInt, KeyText, KeyUUID, KeyTimestamp, KeyComposite}

// Table describes a generated table.
type Table struct {
	Name string
	Key  KeyKind
	Rows int
	// Wide adds a text column of 6–20 KB per row (some rows 128 KB) and a large jsonb.
	Wide bool
}

func keyDDL(k KeyKind) (cols, pk, values string) {
	switch k {
	case KeyText:
		return "code text NOT NULL", "code", "'k-' || md5(g::text) || CASE WHEN g % 3 = 0 THEN ' é' ELSE '' END"
	case KeyUUID:
		return "id uuid NOT NULL", "id", "md5(g::text)::uuid"
	case KeyTimestamp:
		return "at timestamptz NOT NULL", "at", "timestamptz '2023-01-01 00:00:00+00' + g * interval '1.000001 seconds'"
	case KeyComposite:
		return "order_id integer NOT NULL, line integer NOT NULL", "order_id, line", "g / 10, g % 10"
	}
	return "id bigint NOT NULL", "id", "g * 3"
}

// Create creates and fills a table in the database of conn, every value a function of
// its row number, with every type the provider maps: numeric, double (NaN and infinities
// included), boolean, text with quotes, newlines and non-ASCII, arrays, json, jsonb,
// bytea (empty ones included), date, timestamp, timestamptz, uuid, interval, and NULLs.
func Create(ctx context.Context, conn *pgx.Conn, t Table) error {
	keyCols, pk, keyVals := keyDDL(t.Key)
	wideCols, wideVals := "", ""
	if t.Wide {
		wideCols = ", body text, doc jsonb"
		wideVals = `, repeat(md5(g::text) || E' \t"\\', CASE WHEN g % 50 = 0 THEN 3000 ELSE 150 + g % 350 END),
			jsonb_build_object('g', g, 'items', (SELECT jsonb_agg(jsonb_build_object('i', i, 's', md5((g * i)::text))) FROM generate_series(1, 20 + g % 80) i))`
	}
	ddl := fmt.Sprintf(`CREATE TABLE %[1]s (%[2]s, name text, price numeric(14,4), qty integer, small smallint, ratio double precision,
		active boolean, tags text[], scores integer[], meta jsonb, raw json, blob bytea, created_at timestamptz, day date,
		local_at timestamp, updated_at timestamptz NOT NULL, ref uuid, wait interval, note text %[3]s, PRIMARY KEY (%[4]s))`,
		pgx.Identifier{t.Name}.Sanitize(), keyCols, wideCols, pk)
	if _, err := conn.Exec(ctx, ddl); err != nil {
		return fmt.Errorf("create %s: %w", t.Name, err)
	}
	ins := fmt.Sprintf(`INSERT INTO %[1]s SELECT %[2]s,
		'name-' || g || E'\n"quoted" ✓',
		CASE WHEN g %% 13 = 0 THEN NULL ELSE (g * 1.2345)::numeric(14,4) END,
		g %% 1000, (g %% 30000)::smallint,
		CASE WHEN g %% 97 = 0 THEN 'NaN'::float8 WHEN g %% 89 = 0 THEN '-Infinity'::float8 ELSE g / 7.0 END,
		g %% 2 = 0,
		ARRAY['a' || g, NULL, 'b,"c"'],
		ARRAY[g, -g],
		jsonb_build_object('g', g, 'nested', jsonb_build_array(g, 'x', NULL), 'f', g / 3.0, 'big', 12345678901234567890.5),
		('{"b": 1,  "a": [' || g || ']}')::json,
		CASE WHEN g %% 11 = 0 THEN ''::bytea WHEN g %% 17 = 0 THEN NULL ELSE decode(md5(g::text), 'hex') END,
		timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second 123 microseconds',
		date '2020-01-01' + (g %% 3000),
		timestamp '2022-03-04 05:06:07.891' + g * interval '1 minute',
		timestamptz '2024-06-01 00:00:00+00' + g * interval '1 millisecond',
		md5((g * 7)::text)::uuid,
		g * interval '1 minute 2 seconds',
		CASE WHEN g %% 5 = 0 THEN NULL WHEN g %% 7 = 0 THEN '' ELSE 'note ' || g END
		%[3]s
		FROM generate_series(1, %[4]d) g`, pgx.Identifier{t.Name}.Sanitize(), keyVals, wideVals, t.Rows)
	if _, err := conn.Exec(ctx, ins); err != nil {
		return fmt.Errorf("fill %s: %w", t.Name, err)
	}
	_, err := conn.Exec(ctx, "ANALYZE "+pgx.Identifier{t.Name}.Sanitize())
	return err
}

// WriteSpec writes the generated spec of source table (as `sluice spec from-sql` does)
// to dir and returns its path.
func WriteSpec(ctx context.Context, conn *pgx.Conn, dir, source, dataset, table string) (string, error) {
	info, err := sqlcopy.ReadTable(ctx, conn, source)
	if err != nil {
		return "", err
	}
	sp, err := sqlcopy.GenerateSpec(info, dataset, table, nil, nil)
	if err != nil {
		return "", err
	}
	data, err := sqlcopy.MarshalSpec(sp)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, dataset+".json")
	return path, os.WriteFile(path, data, 0o644)
}

// Compare compares table src of the source database with table dst of the destination
// row by row, every column rendered as text the same way on both sides (arrays and json
// as jsonb, timestamps without zone as UTC). It returns the number of rows compared and
// an error describing the first differences.
func Compare(ctx context.Context, srcURL, source, dstURL, dst string) (int, error) {
	sc, err := pgx.Connect(ctx, srcURL)
	if err != nil {
		return 0, err
	}
	defer sc.Close(context.WithoutCancel(ctx))
	dc, err := pgx.Connect(ctx, dstURL)
	if err != nil {
		return 0, err
	}
	defer dc.Close(context.WithoutCancel(ctx))
	for _, c := range []*pgx.Conn{sc, dc} {
		if _, err := c.Exec(ctx, "SET TimeZone = 'UTC'; SET extra_float_digits = 3; SET bytea_output = 'hex'"); err != nil {
			return 0, err
		}
	}
	info, err := sqlcopy.ReadTable(ctx, sc, source)
	if err != nil {
		return 0, err
	}
	var sexprs, dexprs, skeys, dkeys []string
	for _, c := range info.Columns {
		q := pgx.Identifier{c.Name}.Sanitize()
		switch c.DataType {
		case "ARRAY":
			sexprs = append(sexprs, "to_jsonb("+q+")::text")
		case "json":
			sexprs = append(sexprs, q+"::jsonb::text")
		case "timestamp without time zone":
			sexprs = append(sexprs, "("+q+" AT TIME ZONE 'UTC')::text")
		default:
			sexprs = append(sexprs, q+"::text")
		}
		dexprs = append(dexprs, pgx.Identifier{sqlcopy.DestName(c.Name)}.Sanitize()+"::text")
	}
	for _, k := range info.PrimaryKey {
		skeys = append(skeys, pgx.Identifier{k}.Sanitize())
		dkeys = append(dkeys, pgx.Identifier{sqlcopy.DestName(k)}.Sanitize())
	}
	srows, err := sc.Query(ctx, "SELECT "+strings.Join(sexprs, ", ")+" FROM "+source+" ORDER BY "+strings.Join(skeys, ", "), pgx.QueryResultFormats{pgx.TextFormatCode})
	if err != nil {
		return 0, err
	}
	defer srows.Close()
	drows, err := dc.Query(ctx, "SELECT "+strings.Join(dexprs, ", ")+" FROM "+pgx.Identifier{dst}.Sanitize()+" ORDER BY "+strings.Join(dkeys, ", "), pgx.QueryResultFormats{pgx.TextFormatCode})
	if err != nil {
		return 0, err
	}
	defer drows.Close()
	var diffs []string
	n := 0
	for {
		sOK, dOK := srows.Next(), drows.Next()
		if !sOK || !dOK {
			switch {
			case sOK:
				diffs = append(diffs, fmt.Sprintf("row %d and after: in the source only", n+1))
			case dOK:
				diffs = append(diffs, fmt.Sprintf("row %d and after: in the destination only", n+1))
			}
			break
		}
		n++
		sv, dv := srows.RawValues(), drows.RawValues()
		for i := range sv {
			if (sv[i] == nil) != (dv[i] == nil) || string(sv[i]) != string(dv[i]) {
				if len(diffs) < 5 {
					diffs = append(diffs, fmt.Sprintf("row %d column %s: source %s, destination %s", n, info.Columns[i].Name, show(sv[i]), show(dv[i])))
				}
			}
		}
	}
	if err := srows.Err(); err != nil {
		return n, err
	}
	if err := drows.Err(); err != nil {
		return n, err
	}
	if len(diffs) > 0 {
		return n, fmt.Errorf("%s and %s differ: %s", source, dst, strings.Join(diffs, "; "))
	}
	return n, nil
}

func show(v []byte) string {
	if v == nil {
		return "NULL"
	}
	if len(v) > 80 {
		return fmt.Sprintf("%q…", v[:80])
	}
	return fmt.Sprintf("%q", v)
}
