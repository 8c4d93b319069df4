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

var (
	compileOnce sync.Once
	datasetSpec *jsonschema.Schema
	compileErr  error
)

func compiled() (*jsonschema.Schema, error) {
	compileOnce.Do(func() {
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(DatasetSpec))
		if err != nil {
			compileErr = err
			return
		}
		c := jsonschema.NewCompiler()
		const url = "dataset-spec.schema.json"
		if err := c.AddResource(url, doc); err != nil {
			compileErr = err
			return
		}
		datasetSpec, compileErr = c.Compile(url)
	})
	return datasetSpec, compileErr
}

// ValidateDatasetSpec checks a dataset spec document against the schema. Each problem is
// named by its JSON path, e.g. `/columns/2/type: value must be one of "text", ...`.
func ValidateDatasetSpec(data []byte) error {
	sch, err := compiled()
	if err != nil {
		return fmt.Errorf("dataset spec schema: %w", err)
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
