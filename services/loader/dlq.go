package main

import (
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sluice-dev/sluice/internal/pgload"
	sluicev1 "github.com/sluice-dev/sluice/proto/sluice/v1"
)

// singleRowBatch is the RowBatch that carries only row r of b: what a dead letter of that
// row holds, so that `sluice dlq retry` re-sends the bad row alone and not its whole
// message.
func singleRowBatch(b *pgload.Batch, r pgload.WireRow) []byte {
	head := &sluicev1.RowBatch{
		Table: b.Table, Provider: b.Provider, Dataset: b.Dataset, SpecVersion: b.SpecVersion,
		RecordId: b.RecordID, TraceId: b.TraceID,
		Columns: b.Columns, Part: b.Part,
	}
	if !b.ExtractedAt.IsZero() {
		head.ExtractedAt = timestamppb.New(b.ExtractedAt)
	}
	data, err := proto.Marshal(head)
	if err != nil {
		return nil // the DLQ then keeps the whole message
	}
	data = protowire.AppendTag(data, 9, protowire.BytesType)
	return protowire.AppendBytes(data, r)
}
