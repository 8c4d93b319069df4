package spec

import (
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
)

// functions returns sluice's CEL functions:
//
//	parse_date(string) -> timestamp               a date (see ParseDate) at 00:00 UTC
//	parse_timestamp(string) -> timestamp          an instant (see ParseTimestamp)
//	parse_timestamp(string, string) -> timestamp  with a Go layout, e.g. "01/02/2006 15:04"
//	decimal(int|uint|double|string) -> string     exact decimal text for numeric columns
//	nullif(dyn, dyn) -> dyn                       null when both are equal, else the first
//	                                              (SQL NULLIF), e.g. nullif(row.x, "N/A")
//	parse_json(string) -> dyn                     the value of a JSON text, e.g. a CSV cell
//	                                              holding JSON, for a jsonb column
func functions() cel.EnvOption {
	return cel.Lib(functionLib{})
}

type functionLib struct{}

func (functionLib) ProgramOptions() []cel.ProgramOption { return nil }

func (functionLib) CompileOptions() []cel.EnvOption {
	return []cel.EnvOption{
		cel.Function("parse_date",
			cel.Overload("parse_date_string", []*cel.Type{cel.StringType}, cel.TimestampType,
				cel.UnaryBinding(func(v ref.Val) ref.Val {
					t, err := ParseDate(string(v.(types.String)))
					if err != nil {
						return types.WrapErr(err)
					}
					return types.Timestamp{Time: t}
				}))),
		cel.Function("parse_timestamp",
			cel.Overload("parse_timestamp_string", []*cel.Type{cel.StringType}, cel.TimestampType,
				cel.UnaryBinding(func(v ref.Val) ref.Val {
					t, err := ParseTimestamp(string(v.(types.String)))
					if err != nil {
						return types.WrapErr(err)
					}
					return types.Timestamp{Time: t}
				})),
			cel.Overload("parse_timestamp_string_string", []*cel.Type{cel.StringType, cel.StringType}, cel.TimestampType,
				cel.BinaryBinding(func(v, layout ref.Val) ref.Val {
					t, err := parseLayout(string(layout.(types.String)), string(v.(types.String)))
					if err != nil {
						return types.WrapErr(err)
					}
					return types.Timestamp{Time: t.UTC()}
				}))),
		cel.Function("decimal",
			cel.Overload("decimal_int", []*cel.Type{cel.IntType}, cel.StringType,
				cel.UnaryBinding(func(v ref.Val) ref.Val {
					return types.String(strconv.FormatInt(int64(v.(types.Int)), 10))
				})),
			cel.Overload("decimal_uint", []*cel.Type{cel.UintType}, cel.StringType,
				cel.UnaryBinding(func(v ref.Val) ref.Val {
					return types.String(strconv.FormatUint(uint64(v.(types.Uint)), 10))
				})),
			cel.Overload("decimal_double", []*cel.Type{cel.DoubleType}, cel.StringType,
				cel.UnaryBinding(func(v ref.Val) ref.Val {
					s, err := FloatDecimal(float64(v.(types.Double)))
					if err != nil {
						return types.WrapErr(err)
					}
					return types.String(s)
				})),
			cel.Overload("decimal_string", []*cel.Type{cel.StringType}, cel.StringType,
				cel.UnaryBinding(func(v ref.Val) ref.Val {
					s, err := ParseDecimal(string(v.(types.String)))
					if err != nil {
						return types.WrapErr(err)
					}
					return types.String(s)
				}))),
		cel.Function("parse_json",
			cel.Overload("parse_json_string", []*cel.Type{cel.StringType}, cel.DynType,
				cel.UnaryBinding(func(v ref.Val) ref.Val {
					dec := json.NewDecoder(strings.NewReader(string(v.(types.String))))
					dec.UseNumber()
					var out any
					if err := dec.Decode(&out); err != nil {
						return types.NewErr("parse_json: %v", err)
					}
					if _, err := dec.Token(); !errors.Is(err, io.EOF) {
						return types.NewErr("parse_json: data after the JSON value")
					}
					return types.DefaultTypeAdapter.NativeToValue(out)
				}))),
		cel.Function("nullif",
			cel.Overload("nullif_dyn_dyn", []*cel.Type{cel.DynType, cel.DynType}, cel.DynType,
				cel.BinaryBinding(func(a, b ref.Val) ref.Val {
					if a.Equal(b) == types.True {
						return types.NullValue
					}
					return a
				}))),
	}
}
