package spec

import (
	"fmt"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/ext"
)

// Names of the variables CEL expressions see.
const (
	// VarRow is the source row: map(string, dyn). JSON numbers are int when integral and
	// within int64, else double; CSV and HTML values are strings.
	VarRow = "row"
	// VarRecord describes the raw record: provider, dataset, source_key, run_id (strings),
	// extracted_at (timestamp) and attributes (map(string, string)).
	VarRecord = "record"
	// VarOut is the computed row by column name, seen by rules only: int, double (numeric
	// too, approximately), string, bool, timestamp (date too), maps and lists (jsonb), null.
	VarOut = "out"
)

// newEnvs returns the CEL environment of column expressions and the one of rules, which adds
// `out`. Both carry the standard library, optional syntax (row.?field.orValue(null)), the
// strings and encoders extensions and sluice's functions (see functions.go).
func newEnvs() (columns, rules *cel.Env, err error) {
	dynMap := cel.MapType(cel.StringType, cel.DynType)
	columns, err = cel.NewEnv(
		cel.Variable(VarRow, dynMap),
		cel.Variable(VarRecord, dynMap),
		cel.OptionalTypes(),
		ext.Strings(),
		ext.Encoders(),
		functions(),
	)
	if err != nil {
		return nil, nil, fmt.Errorf("cel environment: %w", err)
	}
	rules, err = columns.Extend(cel.Variable(VarOut, dynMap))
	if err != nil {
		return nil, nil, fmt.Errorf("cel rule environment: %w", err)
	}
	return columns, rules, nil
}
