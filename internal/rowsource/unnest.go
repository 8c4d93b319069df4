package rowsource

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"

	"github.com/sluice-dev/sluice/internal/spec"
)

// unnest turns each element of the array at key of every source row into a row of its
// own, with the enclosing row under spec.ParentKey (spec.Format.Unnest): child rows, such
// as the rooms of a hotel, read from one payload with the parent's fields at hand.
type unnest struct {
	src    Reader
	key    string
	parent map[string]any
	items  []any
	next   int
	index  int64
	last   any
}

func newUnnest(src Reader, key string) *unnest { return &unnest{src: src, key: key} }

// Next implements Reader. Index counts child rows (and unusable parents) from 0.
func (u *unnest) Next() (map[string]any, error) {
	for {
		if u.next < len(u.items) {
			el := u.items[u.next]
			u.next++
			index := u.index
			u.index++
			u.last = el
			m, ok := el.(map[string]any)
			if !ok {
				return nil, &RowError{Index: index, Err: fmt.Errorf("%s[%d]: want an object, got %s", u.key, u.next-1, jsonKind(el))}
			}
			out := maps.Clone(m)
			out[spec.ParentKey] = u.parent
			return out, nil
		}
		row, err := u.src.Next()
		if err != nil {
			var re *RowError
			if errors.As(err, &re) {
				u.last = nil
				index := u.index
				u.index++
				return nil, &RowError{Index: index, Line: re.Line, Offset: re.Offset, Err: re.Err}
			}
			return nil, err
		}
		arr := row[u.key]
		parent := maps.Clone(row)
		delete(parent, u.key)
		switch a := arr.(type) {
		case nil:
			continue
		case []any:
			u.items, u.next, u.parent = a, 0, parent
		default:
			u.last = row
			index := u.index
			u.index++
			return nil, &RowError{Index: index, Err: fmt.Errorf("%s: want an array of objects, got %s", u.key, jsonKind(arr))}
		}
	}
}

// Raw implements Reader: the child element (or the unusable parent) as JSON.
func (u *unnest) Raw() []byte {
	if u.last == nil {
		return u.src.Raw()
	}
	b, err := json.Marshal(u.last)
	if err != nil {
		return nil
	}
	return b
}
