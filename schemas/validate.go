package schemas

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

var printer = message.NewPrinter(language.English)

// compiledSchema is one schema, compiled on first use.
type compiledSchema struct {
	name string
	data []byte
	once sync.Once
	sch  *jsonschema.Schema
	err  error
}

func (c *compiledSchema) compiled() (*jsonschema.Schema, error) {
	c.once.Do(func() {
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(c.data))
		if err != nil {
			c.err = err
			return
		}
		comp := jsonschema.NewCompiler()
		if err := comp.AddResource(c.name, doc); err != nil {
			c.err = err
			return
		}
		c.sch, c.err = comp.Compile(c.name)
	})
	return c.sch, c.err
}

var (
	datasetSpec  = &compiledSchema{name: "dataset-spec.schema.json", data: DatasetSpec}
	restManifest = &compiledSchema{name: "rest-manifest.schema.json", data: RestManifest}
)

// ValidateDatasetSpec checks a dataset spec document against the schema. Each problem is
// named by its JSON path, e.g. `/columns/2/type: value must be one of "text", ...`.
func ValidateDatasetSpec(data []byte) error { return validate(datasetSpec, data) }

// ValidateRestManifest checks a rest provider manifest, as JSON (a YAML manifest converted),
// against its schema; each problem is named by its JSON path, e.g.
// `/streams/0/pagination/type: value must be one of ...`.
func ValidateRestManifest(data []byte) error { return validate(restManifest, data) }

func validate(c *compiledSchema, data []byte) error {
	sch, err := c.compiled()
	if err != nil {
		return fmt.Errorf("%s: %w", c.name, err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	err = sch.Validate(doc)
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	var lines []string
	for _, leaf := range leaves(ve) {
		path := "/" + strings.Join(leaf.InstanceLocation, "/")
		lines = append(lines, path+": "+leaf.ErrorKind.LocalizedString(printer))
	}
	sort.Strings(lines)
	return errors.New(strings.Join(slicesCompact(lines), "\n"))
}

// leaves returns the innermost causes: the errors that name a field.
func leaves(ve *jsonschema.ValidationError) []*jsonschema.ValidationError {
	if len(ve.Causes) == 0 {
		return []*jsonschema.ValidationError{ve}
	}
	var out []*jsonschema.ValidationError
	for _, c := range ve.Causes {
		out = append(out, leaves(c)...)
	}
	return out
}

func slicesCompact(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}
