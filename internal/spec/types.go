package spec

// Type is the type of a column. Each maps to one Postgres type and one kind of
// sluicev1.Value:
//
//	text        text              string
//	bigint      bigint            int
//	integer     integer           int (range-checked to 32 bits)
//	double      double precision  float
//	numeric     numeric           decimal (exact decimal text, e.g. "14.50")
//	boolean     boolean           bool
//	date        date              timestamp at 00:00 UTC of that day
//	timestamptz timestamptz       timestamp
//	jsonb       jsonb             json (a JSON document as text)
//	bytea       bytea             bytes
//
// A null of any type is Value.null.
type Type string

// The column types.
const (
	Text        Type = "text"
	BigInt      Type = "bigint"
	Integer     Type = "integer"
	Double      Type = "double"
	Numeric     Type = "numeric"
	Boolean     Type = "boolean"
	Date        Type = "date"
	TimestampTZ Type = "timestamptz"
	JSONB       Type = "jsonb"
	Bytea       Type = "bytea"
)

// Types lists every column type.
func Types() []Type {
	return []Type{Text, BigInt, Integer, Double, Numeric, Boolean, Date, TimestampTZ, JSONB, Bytea}
}

// Valid reports whether t is a known column type.
func (t Type) Valid() bool {
	switch t {
	case Text, BigInt, Integer, Double, Numeric, Boolean, Date, TimestampTZ, JSONB, Bytea:
		return true
	}
	return false
}

// PostgresType returns the Postgres type of the column, e.g. "double precision", or "" for
// an unknown type (which Validate rejects).
func (t Type) PostgresType() string {
	switch t {
	case Double:
		return "double precision"
	case Text, BigInt, Integer, Numeric, Boolean, Date, TimestampTZ, JSONB, Bytea:
		return string(t)
	}
	return ""
}
