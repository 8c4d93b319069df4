package spec

// FormatType names how rows are laid out in a payload.
type FormatType string

// The payload formats.
const (
	// JSONArray is a JSON array of row objects, at the top level or at Format.Path inside a
	// top-level object.
	JSONArray FormatType = "json_array"
	// NDJSON is one JSON row object per line.
	NDJSON FormatType = "ndjson"
	// CSV is delimiter-separated values; every value is a string.
	CSV FormatType = "csv"
	// HTMLTable is one <table> of an HTML document; every value is the cell's text.
	HTMLTable FormatType = "html_table"
)

// ParentKey is the key of an unnested row that holds its enclosing row (Format.Unnest).
const ParentKey = "_parent"

// DefaultMaxRowBytes bounds the size of one source row when Format.MaxRowBytes is 0.
const DefaultMaxRowBytes = 1 << 20

// MaxMaxRowBytes is the largest accepted Format.MaxRowBytes.
const MaxMaxRowBytes = 64 << 20

// Format says how rows are found in a payload. Fields apply to the formats named in their
// comments; Validate rejects a field set for a format that does not use it.
type Format struct {
	Type FormatType `json:"type"`

	// Path (json_array) is a dot-separated list of object keys leading from the top-level
	// object to the array, e.g. "report.rows". Empty: the payload is the array. A null at
	// the path is an empty array.
	Path string `json:"path,omitempty"`

	// Unnest (json_array, ndjson) is a key of each source row holding an array of
	// objects: each element becomes a source row of its own, with the enclosing row
	// (without that key) under the element's key "_parent" (ParentKey). A row whose key is
	// missing or null yields no row. It makes child rows with their own keys, such as the
	// rooms of a hotel document.
	Unnest string `json:"unnest,omitempty"`

	// Delimiter (csv) is the field separator, one character; default ",".
	Delimiter string `json:"delimiter,omitempty"`
	// Comment (csv) makes lines starting with this character comments; default none.
	Comment string `json:"comment,omitempty"`
	// LazyQuotes (csv) accepts quotes in unquoted fields and non-doubled quotes in quoted ones.
	LazyQuotes bool `json:"lazy_quotes,omitempty"`

	// TableIndex (html_table) selects the table by its 0-based position among all <table>
	// elements of the document, nested ones included, in document order.
	TableIndex int `json:"table_index,omitempty"`
	// TableID (html_table) selects the table by its id attribute instead of TableIndex.
	TableID string `json:"table_id,omitempty"`

	// SkipRows (csv, html_table) is the number of rows skipped before the header row (or
	// before the first data row when Header is false): report preambles.
	SkipRows int `json:"skip_rows,omitempty"`
	// Header (csv, html_table) says whether the first row after SkipRows holds the column
	// names; default true.
	Header *bool `json:"header,omitempty"`
	// Fields (csv, html_table) names the source columns in order: required when Header is
	// false, and replaces the header's names when Header is true.
	Fields []string `json:"fields,omitempty"`

	// MaxRowBytes bounds the encoded size of one source row (one array element, line, CSV
	// record or table row); 0 means DefaultMaxRowBytes. A larger row is an error, so memory
	// stays bounded whatever the payload size.
	MaxRowBytes int `json:"max_row_bytes,omitempty"`
}

// HasHeader reports whether the first row after SkipRows holds column names.
func (f Format) HasHeader() bool { return f.Header == nil || *f.Header }

// RowLimit returns the effective maximum row size in bytes.
func (f Format) RowLimit() int {
	if f.MaxRowBytes <= 0 {
		return DefaultMaxRowBytes
	}
	return f.MaxRowBytes
}
