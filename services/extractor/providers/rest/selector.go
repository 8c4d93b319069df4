package rest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// at walks a dot path of object keys into a JSON document without decoding what it
// does not visit, so records keep their exact bytes (unknown fields included). A missing
// key or a null gives nil.
func at(doc json.RawMessage, dotPath string) (json.RawMessage, error) {
	if dotPath == "" {
		return doc, nil
	}
	cur := doc
	for _, key := range strings.Split(dotPath, ".") {
		if isNull(cur) {
			return nil, nil
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(cur, &obj); err != nil {
			return nil, fmt.Errorf("path %q: the value holding key %q is not an object", dotPath, key)
		}
		v, ok := obj[key]
		if !ok {
			return nil, nil
		}
		cur = v
	}
	if isNull(cur) {
		return nil, nil
	}
	return cur, nil
}

func isNull(v json.RawMessage) bool {
	t := bytes.TrimSpace(v)
	return len(t) == 0 || bytes.Equal(t, []byte("null"))
}

// records selects the array of records at dotPath; a missing or null array is empty.
func records(doc json.RawMessage, dotPath string) ([]json.RawMessage, error) {
	v, err := at(doc, dotPath)
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, nil
	}
	var out []json.RawMessage
	if err := json.Unmarshal(v, &out); err != nil {
		return nil, fmt.Errorf("records at %q: not an array", dotPath)
	}
	return out, nil
}

// scalar reads a string or number at dotPath as text; ok is false when absent or null.
func scalar(doc json.RawMessage, dotPath string) (string, bool, error) {
	v, err := at(doc, dotPath)
	if err != nil || v == nil {
		return "", false, err
	}
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil {
		return "", false, err
	}
	switch x := x.(type) {
	case string:
		return x, x != "", nil
	case json.Number:
		return x.String(), true, nil
	default:
		return "", false, fmt.Errorf("%s: want a string or a number, got %s", dotPath, bytes.TrimSpace(v))
	}
}
