package spec

import (
	"fmt"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
)

// nativeAggregate converts a CEL map or list built by an expression to map[string]any or
// []any, element by element.
func nativeAggregate(v ref.Val) (any, error) {
	switch v := v.(type) {
	case traits.Mapper:
		out := make(map[string]any, int(v.Size().(types.Int)))
		for it := v.Iterator(); it.HasNext() == types.True; {
			k := it.Next()
			ks, ok := k.(types.String)
			if !ok {
				return nil, fmt.Errorf("map key %v has type %s, want string", k, k.Type())
			}
			val, err := nativeValue(v.Get(k))
			if err != nil {
				return nil, err
			}
			out[string(ks)] = val
		}
		return out, nil
	case traits.Lister:
		n := int(v.Size().(types.Int))
		out := make([]any, n)
		for i := range n {
			val, err := nativeValue(v.Get(types.Int(i)))
			if err != nil {
				return nil, err
			}
			out[i] = val
		}
		return out, nil
	}
	return nil, fmt.Errorf("unsupported result of type %s", v.Type())
}
