// Package schemas holds the JSON Schemas of the files users write for sluice, so editors
// can validate and complete them ("$schema") and tools can check them.
package schemas

import _ "embed"

// DatasetSpec is the JSON Schema of a dataset spec.
//
//go:embed dataset-spec.schema.json
var DatasetSpec []byte
