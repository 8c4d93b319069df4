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

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/sluice-dev/sluice/internal/config"
	"github.com/sluice-dev/sluice/internal/staging"
	sluicev1 "github.com/sluice-dev/sluice/proto/sluice/v1"
)

// maxShownRows bounds the rows of a row batch that show prints.
const maxShownRows = 5

func cmdDLQShow(ctx context.Context, env *cliEnv, args []string) error {
	fs := config.NewFlagSet("sluice dlq show", env.getenv, env.stdout)
	var url, jaeger string
	var mongo staging.Config
	var asJSON bool
	natsFlags(fs, &url)
	mongoFlags(fs, &mongo)
	fs.StringVar(&jaeger, "jaeger-url", "SLUICE_JAEGER_URL", "http://127.0.0.1:16686", "Jaeger UI address, for the trace link")
	fs.BoolVar(&asJSON, "json", "", false, "print JSON")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	seqs, err := parseSeqs(pos)
	if err != nil {
		return err
	}
	if len(seqs) != 1 {
		return &config.UsageError{Err: errors.New(dlqUsage)}
	}
	nc, js, err := connect(ctx, url, env.stderr)
	if err != nil {
		return err
	}
	defer nc.Close()
	dl, err := getDeadLetter(ctx, js, seqs[0])
	if err != nil {
		return err
	}
	raw := lookupRaw(ctx, mongo, dl)
	if asJSON {
		out := dlqJSON(dl)
		out["headers"] = dl.GetHeaders()
		out["raw_document"] = raw
		out["data"] = describeData(dl)
		enc := json.NewEncoder(env.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	return renderDeadLetter(env.stdout, dl, raw, jaeger)
}

// rawLink says where the raw document of a dead letter's record is staged.
type rawLink struct {
	Database   string `json:"database"`
	Collection string `json:"collection"`
	ID         string `json:"_id"`
	// Found is nil when the store could not be asked.
	Found       *bool     `json:"found,omitempty"`
	Error       string    `json:"error,omitempty"`
	RunID       string    `json:"run_id,omitempty"`
	SourceKey   string    `json:"source_key,omitempty"`
	ExtractedAt time.Time `json:"extracted_at,omitzero"`
	S3          string    `json:"s3,omitempty"`
	InlineBytes int       `json:"inline_bytes,omitempty"`
}

func lookupRaw(ctx context.Context, cfg staging.Config, dl deadLetter) rawLink {
	l := rawLink{Database: cfg.Database, Collection: "raw_" + dl.GetProvider(), ID: dl.GetRecordId()}
	if dl.GetRecordId() == "" || dl.GetProvider() == "" {
		l.Error = "the dead letter names no record"
		return l
	}
	cfg.WriteConcern = "1"
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	store, err := staging.Open(ctx, cfg)
	if err != nil {
		l.Error = err.Error()
		return l
	}
	defer store.Close(context.WithoutCancel(ctx))
	doc, err := store.Get(ctx, dl.GetProvider(), dl.GetRecordId())
	found := err == nil
	switch {
	case errors.Is(err, staging.ErrNotFound):
		l.Found = &found
		return l
	case err != nil:
		l.Error = err.Error()
		return l
	}
	l.Found = &found
	l.RunID, l.SourceKey, l.ExtractedAt = doc.RunID, doc.SourceKey, doc.ExtractedAt.UTC()
	if doc.S3Key != "" {
		l.S3 = "s3://" + doc.S3Bucket + "/" + doc.S3Key
	} else {
		l.InlineBytes = len(doc.Payload)
	}
	return l
}

// describeData decodes what the dead letter holds: a record envelope (stage, transform),
// a row batch (load), or one source row and the record it belongs to (a transform row).
func describeData(dl deadLetter) any {
	if isSourceRow(dl) {
		return map[string]any{
			"source_row": string(dl.GetData()), "content_type": dl.GetContentType(), "row_index": dl.GetRowIndex(),
			"record_id": dl.GetRecordId(), "stream": dl.GetStream(), "stream_sequence": dl.GetStreamSequence(),
		}
	}
	if strings.HasPrefix(dl.GetSubject(), "sluice.rows.") {
		rb := &sluicev1.RowBatch{}
		if err := proto.Unmarshal(dl.GetData(), rb); err != nil {
			return map[string]any{"error": err.Error()}
		}
		return json.RawMessage(protojson.Format(rb))
	}
	rec := &sluicev1.Record{}
	if err := proto.Unmarshal(dl.GetData(), rec); err != nil {
		return map[string]any{"error": err.Error()}
	}
	if p, ok := rec.GetPayload().(*sluicev1.Record_Inline); ok {
		rec.Payload = &sluicev1.Record_Inline{Inline: nil}
		return map[string]any{"record": json.RawMessage(protojson.Format(rec)), "inline_bytes": len(p.Inline)}
	}
	return map[string]any{"record": json.RawMessage(protojson.Format(rec))}
}

func renderDeadLetter(w io.Writer, dl deadLetter, raw rawLink, jaeger string) error {
	var b strings.Builder
	line := func(label, format string, args ...any) {
		fmt.Fprintf(&b, "%-12s %s\n", label, fmt.Sprintf(format, args...))
	}
	line("dead letter", "%d", dl.Seq)
	line("failed at", "%s", dl.Time.Format(time.RFC3339Nano))
	line("stage", "%s", dl.GetStage())
	line("dataset", "%s/%s", dl.GetProvider(), dl.GetDataset())
	line("record id", "%s", dl.GetRecordId())
	if dl.GetRowIndex() >= 0 {
		line("row", "%d", dl.GetRowIndex())
	} else {
		line("row", "- (the whole message failed)")
	}
	line("reason", "%s", dl.GetReason())
	line("deliveries", "%d", dl.GetDeliveries())
	line("subject", "%s (where retry re-publishes it)", dl.GetSubject())
	if dl.GetTraceId() != "" {
		line("trace id", "%s", dl.GetTraceId())
		line("jaeger", "%s", jaegerLink(jaeger, dl.GetTraceId()))
	}
	b.WriteString("\nraw document\n")
	fmt.Fprintf(&b, "  %-11s %s.%s _id %s\n", "mongodb", raw.Database, raw.Collection, raw.ID)
	switch {
	case raw.Error != "":
		fmt.Fprintf(&b, "  %-11s not checked: %s\n", "status", raw.Error)
	case raw.Found != nil && !*raw.Found:
		fmt.Fprintf(&b, "  %-11s not staged (a stage failure, or expired by retention)\n", "status")
	default:
		fmt.Fprintf(&b, "  %-11s %s\n", "source key", raw.SourceKey)
		fmt.Fprintf(&b, "  %-11s %s\n", "run id", raw.RunID)
		fmt.Fprintf(&b, "  %-11s %s\n", "extracted", raw.ExtractedAt.Format(time.RFC3339Nano))
		if raw.S3 != "" {
			fmt.Fprintf(&b, "  %-11s claim check %s\n", "payload", raw.S3)
		} else {
			fmt.Fprintf(&b, "  %-11s inline, %d bytes\n", "payload", raw.InlineBytes)
		}
	}
	b.WriteString("\ndata\n")
	writeData(&b, dl)
	_, err := io.WriteString(w, b.String())
	return err
}

// isSourceRow reports whether dl holds one source row and points at its record instead
// of holding the record (a transform row letter; see sluicev1.DeadLetter.content_type).
func isSourceRow(dl deadLetter) bool { return dl.GetContentType() != "" && dl.GetRowIndex() >= 0 }

func writeData(b *strings.Builder, dl deadLetter) {
	if isSourceRow(dl) {
		fmt.Fprintf(b, "  source row %d of record %s (%s)", dl.GetRowIndex(), dl.GetRecordId(), dl.GetContentType())
		if dl.GetStream() != "" {
			fmt.Fprintf(b, ", %s sequence %d", dl.GetStream(), dl.GetStreamSequence())
		}
		b.WriteString("\n")
		if len(dl.GetData()) == 0 {
			b.WriteString("  (the row could not be read; see the raw document)\n")
			return
		}
		fmt.Fprintf(b, "  %s\n", dl.GetData())
		b.WriteString("  retry re-runs the whole record from staging\n")
		return
	}
	if strings.HasPrefix(dl.GetSubject(), "sluice.rows.") {
		rb := &sluicev1.RowBatch{}
		if err := proto.Unmarshal(dl.GetData(), rb); err != nil {
			fmt.Fprintf(b, "  undecodable row batch: %v\n", err)
			return
		}
		fmt.Fprintf(b, "  row batch for table %s, spec version %d, %d row(s)\n", rb.GetTable(), rb.GetSpecVersion(), len(rb.GetRows()))
		for i, r := range rb.GetRows() {
			if i == maxShownRows {
				fmt.Fprintf(b, "  … %d more\n", len(rb.GetRows())-maxShownRows)
				break
			}
			var cells []string
			for j, v := range r.GetValues() {
				name := fmt.Sprint(j)
				if j < len(rb.GetColumns()) {
					name = rb.GetColumns()[j]
				}
				cells = append(cells, name+"="+formatWireValue(v))
			}
			fmt.Fprintf(b, "  row %d: %s\n", r.GetIndex(), strings.Join(cells, ", "))
		}
		return
	}
	rec := &sluicev1.Record{}
	if err := proto.Unmarshal(dl.GetData(), rec); err != nil {
		fmt.Fprintf(b, "  undecodable record: %v\n", err)
		return
	}
	fmt.Fprintf(b, "  record %s, source key %s, run %s, %s, %d bytes", rec.GetId(), rec.GetSourceKey(), rec.GetRunId(), rec.GetContentType(), rec.GetSize())
	if cc := rec.GetClaimCheck(); cc != nil {
		fmt.Fprintf(b, " in s3://%s/%s", cc.GetBucket(), cc.GetKey())
	}
	b.WriteString("\n")
	if len(rec.GetAttributes()) > 0 {
		keys := make([]string, 0, len(rec.GetAttributes()))
		for k := range rec.GetAttributes() {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(b, "  %s=%s\n", k, rec.GetAttributes()[k])
		}
	}
}

func formatWireValue(v *sluicev1.Value) string {
	switch k := v.GetKind().(type) {
	case nil, *sluicev1.Value_Null:
		return "NULL"
	case *sluicev1.Value_String_:
		return fmt.Sprintf("%q", k.String_)
	case *sluicev1.Value_Int:
		return fmt.Sprint(k.Int)
	case *sluicev1.Value_Float:
		return fmt.Sprint(k.Float)
	case *sluicev1.Value_Bool:
		return fmt.Sprint(k.Bool)
	case *sluicev1.Value_Timestamp:
		return k.Timestamp.AsTime().UTC().Format(time.RFC3339Nano)
	case *sluicev1.Value_Decimal:
		return k.Decimal
	case *sluicev1.Value_Bytes:
		return fmt.Sprintf("%d bytes", len(k.Bytes))
	case *sluicev1.Value_Json:
		return k.Json
	}
	return "?"
}
