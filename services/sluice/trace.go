package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/sluice-dev/sluice/internal/blob"
	"github.com/sluice-dev/sluice/internal/config"
	"github.com/sluice-dev/sluice/internal/pgload"
	"github.com/sluice-dev/sluice/internal/spec"
	"github.com/sluice-dev/sluice/internal/specstore"
	"github.com/sluice-dev/sluice/internal/staging"
)

const traceUsage = "usage: sluice trace <table> <primary key>|--latest [flags]   e.g. sluice trace demo_items 7, or id=7,day=2024-06-01 for a composite key"

// traceConfig is where sluice trace looks.
type traceConfig struct {
	NATSURL, PostgresURL     string
	MongoURI, MongoDatabase  string
	JaegerURL                string
	S3Endpoint, S3Region     string
	S3AccessKey, S3SecretKey string
	Provider                 string
	JSON, Payload, Latest    bool
	Table, Key               string
}

func cmdTrace(ctx context.Context, env *cliEnv, args []string) error {
	fs := config.NewFlagSet("sluice trace", env.getenv, env.stdout)
	var c traceConfig
	natsFlags(fs, &c.NATSURL)
	fs.StringVar(&c.PostgresURL, "postgres-url", "SLUICE_POSTGRES_URL", "", "PostgreSQL URL of the loaded tables")
	fs.StringVar(&c.MongoURI, "mongo-uri", "SLUICE_MONGO_URI", "mongodb://127.0.0.1:27017/", "document store URI")
	fs.StringVar(&c.MongoDatabase, "mongo-database", "SLUICE_MONGO_DATABASE", "sluice", "document store database")
	fs.StringVar(&c.JaegerURL, "jaeger-url", "SLUICE_JAEGER_URL", "http://127.0.0.1:16686", "Jaeger UI address, for the trace link")
	fs.StringVar(&c.S3Endpoint, "s3-endpoint", "SLUICE_S3_ENDPOINT", "", "S3 endpoint URL of claim-checked payloads; empty for AWS")
	fs.StringVar(&c.S3Region, "s3-region", "SLUICE_S3_REGION", "us-east-1", "S3 region")
	fs.StringVar(&c.S3AccessKey, "s3-access-key", "SLUICE_S3_ACCESS_KEY", "", "S3 access key (empty: the SDK's default chain)")
	fs.StringVar(&c.S3SecretKey, "s3-secret-key", "SLUICE_S3_SECRET_KEY", "", "S3 secret key")
	fs.StringVar(&c.Provider, "provider", "", "", "the provider, when datasets of several providers load into the table")
	fs.BoolVar(&c.JSON, "json", "", false, "print JSON")
	fs.BoolVar(&c.Payload, "payload", "", false, "write the raw payload's bytes (as stored) instead of the lineage")
	fs.BoolVar(&c.Latest, "latest", "", false, "trace the row loaded last instead of naming its key")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) == 2 && !c.Latest:
		c.Table, c.Key = pos[0], pos[1]
	case len(pos) == 1 && c.Latest:
		c.Table = pos[0]
	default:
		return config.Usagef("%s", traceUsage)
	}
	if c.PostgresURL == "" {
		return errors.New("--postgres-url / SLUICE_POSTGRES_URL is empty")
	}

	nc, js, err := connect(ctx, c.NATSURL, env.stderr)
	if err != nil {
		return err
	}
	defer nc.Close()
	specs, err := specstore.Open(ctx, js)
	if err != nil {
		return err
	}
	all, err := specs.List(ctx)
	if err != nil {
		return err
	}
	candidates, err := specsOfTable(all, c.Table, c.Provider)
	if err != nil {
		return err
	}
	var key map[string]string
	if c.Latest {
		if key, err = latestKey(ctx, c.PostgresURL, candidates[0]); err != nil {
			return err
		}
	} else if key, err = parseKey(candidates[0], c.Key); err != nil {
		return err
	}

	row, err := findRow(ctx, c.PostgresURL, candidates[0], key)
	if err != nil {
		return err
	}
	rep := newTraceReport(c, candidates[0], key, row)

	store, err := staging.Open(ctx, staging.Config{URI: c.MongoURI, Database: c.MongoDatabase})
	if err != nil {
		return unreachable("MongoDB", c.MongoURI, "--mongo-uri", "SLUICE_MONGO_URI", err)
	}
	defer store.Close(context.WithoutCancel(ctx))
	var doc *staging.Document
	for _, sp := range candidates {
		d, err := findRaw(ctx, store, sp.Provider, rep.RecordID)
		if err != nil {
			return err
		}
		if d != nil {
			doc, rep.Provider, rep.Dataset = d, sp.Provider, sp.Dataset
			break
		}
	}
	var blobs *blob.Store
	if doc != nil && doc.S3Key != "" {
		blobs, err = blob.New(blob.Config{Endpoint: c.S3Endpoint, Region: c.S3Region, Bucket: doc.S3Bucket,
			AccessKey: c.S3AccessKey, SecretKey: c.S3SecretKey, PartSize: 5 << 20, Concurrency: 1})
		if err != nil {
			return err
		}
	}
	if c.Payload && doc != nil && doc.S3Object != nil {
		// The source's own object (an external claim check), read where it lies.
		o := doc.S3Object
		body, err := blob.NewExternal(env.getenv, blob.Endpoint{AccessKey: c.S3AccessKey, SecretKey: c.S3SecretKey}).Open(ctx, blob.Ref{
			Endpoint: o.Endpoint, Region: o.Region, Credentials: o.Credentials, Bucket: doc.S3Bucket, Key: doc.S3Key, VersionID: o.VersionID, ETag: o.ETag})
		if err != nil {
			return err
		}
		defer body.Close()
		_, err = io.Copy(env.stdout, body)
		return err
	}
	if c.Payload {
		return writePayload(ctx, env.stdout, doc, blobs, rep)
	}
	if doc != nil {
		rep.Raw = rawReportOf(doc, c, rep.TraceID)
		if blobs != nil && doc.S3Object == nil {
			rep.Raw.S3.head(ctx, blobs.Client())
		}
	}
	if c.JSON {
		enc := json.NewEncoder(env.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else if err := renderTrace(env.stdout, rep); err != nil {
		return err
	}
	if doc == nil {
		return fmt.Errorf("record %s of %s %s is not in the document store (database %s, collection raw_%s)",
			rep.RecordID, c.Table, c.Key, c.MongoDatabase, candidates[0].Provider)
	}
	return nil
}

// parseInterleaved parses flags given before, between or after the positional arguments
// and returns the positional ones.
func parseInterleaved(fs *config.FlagSet, args []string) ([]string, error) {
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	return fs.Args(), nil
}

// specsOfTable returns the specs loading into table (of provider, when given).
func specsOfTable(all []*spec.Spec, table, provider string) ([]*spec.Spec, error) {
	var out []*spec.Spec
	tables := map[string]bool{}
	for _, sp := range all {
		tables[sp.Table] = true
		if sp.Table == table && (provider == "" || sp.Provider == provider) {
			out = append(out, sp)
		}
	}
	if len(out) == 0 {
		known := make([]string, 0, len(tables))
		for t := range tables {
			known = append(known, t)
		}
		sort.Strings(known)
		return nil, fmt.Errorf("no dataset spec loads into table %q (tables with specs: %s)", table, strings.Join(known, ", "))
	}
	for _, sp := range out[1:] {
		if strings.Join(sp.PrimaryKey, ",") != strings.Join(out[0].PrimaryKey, ",") {
			return nil, fmt.Errorf("table %s: specs %s and %s disagree on the primary key; choose one with --provider", table, out[0].Key(), sp.Key())
		}
	}
	return out, nil
}

// parseKey reads a primary key: the value alone for a one-column key ("7"), else
// column=value pairs separated by commas ("id=7,day=2024-06-01").
func parseKey(sp *spec.Spec, arg string) (map[string]string, error) {
	pk := sp.PrimaryKey
	key := map[string]string{}
	pairs := strings.Contains(arg, "=")
	if pairs {
		for _, kv := range strings.Split(arg, ",") {
			k, v, ok := strings.Cut(kv, "=")
			k = strings.TrimSpace(k)
			if !ok || sp.Column(k) < 0 {
				pairs = false
				break
			}
			key[k] = v
		}
	}
	switch {
	case pairs:
	case len(pk) == 1:
		// One column: the whole argument is the value, even if it holds '=' or ','.
		return map[string]string{pk[0]: arg}, nil
	default:
		return nil, fmt.Errorf("table %s has the primary key (%s): give %s", sp.Table, strings.Join(pk, ", "), keyExample(pk))
	}
	if len(key) != len(pk) {
		return nil, fmt.Errorf("table %s has the primary key (%s): give %s", sp.Table, strings.Join(pk, ", "), keyExample(pk))
	}
	for _, c := range pk {
		if _, ok := key[c]; !ok {
			return nil, fmt.Errorf("table %s has the primary key (%s): %q is missing", sp.Table, strings.Join(pk, ", "), c)
		}
	}
	return key, nil
}

func keyExample(pk []string) string {
	parts := make([]string, len(pk))
	for i, c := range pk {
		parts[i] = c + "=…"
	}
	return strings.Join(parts, ",")
}

// rowQuery selects the row of key as one JSON object. Each value is cast from text to its
// column's type on the server, so the primary key index is used.
func rowQuery(sp *spec.Spec, key map[string]string) (string, []any) {
	var where []string
	var args []any
	for _, c := range sp.PrimaryKey {
		typ := "text"
		if i := sp.Column(c); i >= 0 {
			typ = sp.Columns[i].Type.PostgresType()
		}
		args = append(args, key[c])
		where = append(where, fmt.Sprintf("%s = CAST($%d::text AS %s)", pgx.Identifier{c}.Sanitize(), len(args), typ))
	}
	return fmt.Sprintf("SELECT to_jsonb(t)::text FROM %s AS t WHERE %s", pgx.Identifier{sp.Table}.Sanitize(), strings.Join(where, " AND ")), args
}

func findRow(ctx context.Context, url string, sp *spec.Spec, key map[string]string) (map[string]any, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, unreachable("PostgreSQL", url, "--postgres-url", "SLUICE_POSTGRES_URL", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	q, args := rowQuery(sp, key)
	var text string
	err = conn.QueryRow(ctx, q, args...).Scan(&text)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("no row in %s with %s", sp.Table, formatKey(sp.PrimaryKey, key))
	}
	if err != nil {
		return nil, fmt.Errorf("read %s %s: %w", sp.Table, formatKey(sp.PrimaryKey, key), err)
	}
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	var row map[string]any
	if err := dec.Decode(&row); err != nil {
		return nil, fmt.Errorf("decode row of %s: %w", sp.Table, err)
	}
	return row, nil
}

// latestKey is the primary key of the row of sp's table loaded last, as text.
func latestKey(ctx context.Context, url string, sp *spec.Spec) (map[string]string, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, unreachable("PostgreSQL", url, "--postgres-url", "SLUICE_POSTGRES_URL", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	cols := make([]string, len(sp.PrimaryKey))
	for i, c := range sp.PrimaryKey {
		cols[i] = pgx.Identifier{c}.Sanitize() + "::text"
	}
	vals := make([]string, len(cols))
	dest := make([]any, len(cols))
	for i := range vals {
		dest[i] = &vals[i]
	}
	q := fmt.Sprintf("SELECT %s FROM %s ORDER BY %s DESC LIMIT 1", strings.Join(cols, ", "),
		pgx.Identifier{sp.Table}.Sanitize(), pgx.Identifier{pgload.ColLoadedAt}.Sanitize())
	if err := conn.QueryRow(ctx, q).Scan(dest...); errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("table %s is empty", sp.Table)
	} else if err != nil {
		return nil, fmt.Errorf("read the latest row of %s: %w", sp.Table, err)
	}
	key := make(map[string]string, len(vals))
	for i, c := range sp.PrimaryKey {
		key[c] = vals[i]
	}
	return key, nil
}

func formatKey(pk []string, key map[string]string) string {
	parts := make([]string, len(pk))
	for i, c := range pk {
		parts[i] = c + "=" + key[c]
	}
	return strings.Join(parts, ",")
}

// findRaw returns the staged document of record id, or nil when there is none.
func findRaw(ctx context.Context, store *staging.Store, provider, id string) (*staging.Document, error) {
	var d staging.Document
	err := store.Collection(provider).FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read raw_%s %s: %w", provider, id, err)
	}
	return &d, nil
}

// writePayload copies the raw payload as stored (inline, or the S3 object) to w.
func writePayload(ctx context.Context, w io.Writer, doc *staging.Document, blobs *blob.Store, rep traceReport) error {
	if doc == nil {
		return fmt.Errorf("record %s is not in the document store", rep.RecordID)
	}
	if blobs == nil {
		_, err := w.Write(doc.Payload)
		return err
	}
	body, err := blobs.Open(ctx, doc.S3Bucket, doc.S3Key)
	if err != nil {
		return err
	}
	defer body.Close()
	_, err = io.Copy(w, body)
	return err
}

// traceReport is the lineage of one row (`sluice trace --json`).
type traceReport struct {
	Table    string            `json:"table"`
	Provider string            `json:"provider"`
	Dataset  string            `json:"dataset"`
	Key      map[string]string `json:"key"`
	RecordID string            `json:"record_id"`
	TraceID  string            `json:"trace_id"`
	// JaegerURL opens the row's trace: extract → stage → transform → load.
	JaegerURL   string `json:"jaeger_url"`
	ExtractedAt string `json:"extracted_at"`
	LoadedAt    string `json:"loaded_at"`
	// DataVersion is the source's version of the row's data (the freshness order before
	// extracted_at); empty when the source gives none.
	DataVersion string `json:"data_version,omitempty"`
	// Row holds the data columns as PostgreSQL renders them in JSON.
	Row map[string]any `json:"row"`
	// Raw is the staged document; null when it is missing.
	Raw *rawReport `json:"raw"`

	keyText   string
	keyOrder  []string
	colOrder  []string
	jaegerURL string
}

type rawReport struct {
	Database        string            `json:"database"`
	Collection      string            `json:"collection"`
	ID              string            `json:"id"`
	SourceKey       string            `json:"source_key"`
	RunID           string            `json:"run_id"`
	ExtractedAt     time.Time         `json:"extracted_at"`
	StagedAt        time.Time         `json:"staged_at"`
	ContentType     string            `json:"content_type"`
	ContentEncoding string            `json:"content_encoding,omitempty"`
	Size            int64             `json:"size"`
	SHA256          string            `json:"sha256"`
	Inline          bool              `json:"inline"`
	S3              *s3Report         `json:"s3"`
	Attributes      map[string]string `json:"attributes,omitempty"`
	// TraceID is the trace the record was staged in. It differs from the row's after a
	// replay, which starts a new trace; JaegerURL then opens the original one.
	TraceID   string `json:"trace_id"`
	JaegerURL string `json:"jaeger_url,omitempty"`
}

// s3Report is a claim-checked payload's object, with what a HEAD request found.
type s3Report struct {
	Bucket string `json:"bucket"`
	Key    string `json:"key"`
	URI    string `json:"uri"`
	// Exists is null when the object was not checked.
	Exists       *bool      `json:"exists"`
	Size         *int64     `json:"size,omitempty"`
	ETag         string     `json:"etag,omitempty"`
	LastModified *time.Time `json:"last_modified,omitempty"`
	Error        string     `json:"error,omitempty"`
}

func (s *s3Report) head(ctx context.Context, client *s3.Client) {
	hctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	out, err := client.HeadObject(hctx, &s3.HeadObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(s.Key)})
	exists := err == nil
	s.Exists = &exists
	if err != nil {
		s.Error = err.Error()
		return
	}
	s.Size, s.LastModified, s.ETag = out.ContentLength, out.LastModified, strings.Trim(aws.ToString(out.ETag), `"`)
}

func jaegerLink(base, traceID string) string {
	if traceID == "" {
		return ""
	}
	return strings.TrimRight(base, "/") + "/trace/" + traceID
}

// newTraceReport takes the lineage columns out of row; the rest are data columns.
func newTraceReport(c traceConfig, sp *spec.Spec, key map[string]string, row map[string]any) traceReport {
	str := func(col string) string {
		v, _ := row[col].(string)
		delete(row, col)
		return v
	}
	r := traceReport{
		Table: c.Table, Provider: sp.Provider, Dataset: sp.Dataset, Key: key,
		RecordID: str(pgload.ColRecordID), TraceID: str(pgload.ColTraceID),
		ExtractedAt: str(pgload.ColExtractedAt), LoadedAt: str(pgload.ColLoadedAt),
		Row: row, keyText: formatKey(sp.PrimaryKey, key), keyOrder: sp.PrimaryKey, colOrder: sp.ColumnNames(),
		jaegerURL: c.JaegerURL,
	}
	if v, ok := row[pgload.ColDataVersion]; ok {
		if v != nil {
			r.DataVersion = fmt.Sprint(v)
		}
		delete(row, pgload.ColDataVersion)
	}
	r.JaegerURL = jaegerLink(c.JaegerURL, r.TraceID)
	return r
}

func rawReportOf(d *staging.Document, c traceConfig, rowTrace string) *rawReport {
	r := &rawReport{
		Database: c.MongoDatabase, Collection: "raw_" + d.Provider, ID: d.ID, SourceKey: d.SourceKey, RunID: d.RunID,
		ExtractedAt: d.ExtractedAt.UTC(), StagedAt: d.StagedAt.UTC(), ContentType: d.ContentType, ContentEncoding: d.ContentEncoding,
		Size: d.Size, SHA256: d.SHA256, Inline: d.S3Key == "", Attributes: d.Attributes, TraceID: d.TraceID,
	}
	if d.S3Key != "" {
		r.S3 = &s3Report{Bucket: d.S3Bucket, Key: d.S3Key, URI: "s3://" + d.S3Bucket + "/" + d.S3Key}
	}
	if d.TraceID != "" && d.TraceID != rowTrace {
		r.JaegerURL = jaegerLink(c.JaegerURL, d.TraceID)
	}
	return r
}

// renderTrace prints the report for a person.
func renderTrace(w io.Writer, r traceReport) error {
	var b strings.Builder
	line := func(label, format string, args ...any) {
		fmt.Fprintf(&b, "%-13s %s\n", label, fmt.Sprintf(format, args...))
	}
	line("row", "%s %s", r.Table, r.keyText)
	line("dataset", "%s/%s", r.Provider, r.Dataset)
	line("record id", "%s", r.RecordID)
	line("trace id", "%s", r.TraceID)
	line("jaeger", "%s", r.JaegerURL)
	line("extracted at", "%s", r.ExtractedAt)
	line("loaded at", "%s", r.LoadedAt)
	if r.DataVersion != "" {
		line("data version", "%s", r.DataVersion)
	}
	b.WriteString("\nraw document\n")
	if r.Raw == nil {
		fmt.Fprintf(&b, "  not found: record %s is not staged in raw_%s\n", r.RecordID, r.Provider)
	} else {
		d := r.Raw
		sub := func(label, format string, args ...any) {
			fmt.Fprintf(&b, "  %-12s %s\n", label, fmt.Sprintf(format, args...))
		}
		sub("collection", "%s.%s", d.Database, d.Collection)
		sub("_id", "%s", d.ID)
		sub("source key", "%s", d.SourceKey)
		sub("run id", "%s", d.RunID)
		sub("extracted at", "%s", d.ExtractedAt.Format(time.RFC3339Nano))
		sub("staged at", "%s", d.StagedAt.Format(time.RFC3339Nano))
		content := d.ContentType
		if d.ContentEncoding != "" {
			content += " (" + d.ContentEncoding + ")"
		}
		sub("content", "%s", content)
		sub("size", "%d bytes", d.Size)
		sub("sha256", "%s", d.SHA256)
		switch {
		case d.S3 == nil:
			sub("payload", "inline in the document (sluice trace --payload prints it)")
		case d.S3.Exists == nil:
			sub("payload", "claim check %s (not checked)", d.S3.URI)
		case *d.S3.Exists:
			size := int64(-1)
			if d.S3.Size != nil {
				size = *d.S3.Size
			}
			sub("payload", "claim check %s (%d bytes, etag %s)", d.S3.URI, size, d.S3.ETag)
		default:
			sub("payload", "claim check %s: %s", d.S3.URI, d.S3.Error)
		}
		if len(d.Attributes) > 0 {
			keys := make([]string, 0, len(d.Attributes))
			for k := range d.Attributes {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			parts := make([]string, len(keys))
			for i, k := range keys {
				parts[i] = k + "=" + d.Attributes[k]
			}
			sub("attributes", "%s", strings.Join(parts, ", "))
		}
		if d.JaegerURL != "" {
			sub("staged trace", "%s (the row was loaded in another trace, e.g. by a replay)", d.JaegerURL)
		}
	}
	b.WriteString("\ncolumns\n")
	cols := r.colOrder
	seen := map[string]bool{}
	for _, c := range cols {
		seen[c] = true
	}
	var extra []string
	for c := range r.Row {
		if !seen[c] {
			extra = append(extra, c)
		}
	}
	sort.Strings(extra)
	for _, c := range append(append([]string{}, cols...), extra...) {
		v, ok := r.Row[c]
		if !ok {
			continue
		}
		fmt.Fprintf(&b, "  %-20s %s\n", c, formatValue(v))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func formatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case string:
		return x
	case json.Number:
		return x.String()
	}
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(data)
}
