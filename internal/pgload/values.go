package pgload

import (
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5/pgtype"

	sluicev1 "github.com/sluice-dev/sluice/proto/sluice/v1"
)

// GoValue converts a wire value to what pgx encodes for its column.
func GoValue(v *sluicev1.Value) (any, error) {
	switch k := v.GetKind().(type) {
	case nil, *sluicev1.Value_Null:
		return nil, nil
	case *sluicev1.Value_String_:
		return k.String_, nil
	case *sluicev1.Value_Int:
		return k.Int, nil
	case *sluicev1.Value_Float:
		return k.Float, nil
	case *sluicev1.Value_Bool:
		return k.Bool, nil
	case *sluicev1.Value_Timestamp:
		return k.Timestamp.AsTime(), nil
	case *sluicev1.Value_Decimal:
		var n pgtype.Numeric
		if err := n.Scan(k.Decimal); err != nil {
			return nil, fmt.Errorf("decimal %q: %w", k.Decimal, err)
		}
		return n, nil
	case *sluicev1.Value_Bytes:
		return k.Bytes, nil
	case *sluicev1.Value_Json:
		if !json.Valid([]byte(k.Json)) {
			return nil, fmt.Errorf("json value is not valid JSON")
		}
		return json.RawMessage(k.Json), nil
	}
	return nil, fmt.Errorf("value of unknown kind %T", v.GetKind())
}
