# Writes cases.json: run `python3 gen_cases.py` here after editing. JSON is the corpus; this
# script only spares hand-escaping.
import json, base64

cases = []
def case(name, dataset, about, expect, payload=None, records=None, **rec):
    if records is None:
        r = dict(rec)
        if payload is not None:
            r["payload"] = payload
        records = [r]
    cases.append({"name": name, "dataset": dataset, "about": about, "records": records, "expect": expect})

def rows(n, cols=None, want=None):
    e = {"rows": n}
    if cols:
        e["want"] = {"cols": cols, "rows": want}
    return e

def dead(n, *letters):
    e = rows(n)
    e["dead"] = [{"record": r, "row": k, "reason": why} for (r, k, why) in letters]
    return e

def rejected(why, n=0, record=0):
    return {"rows": n, "rejected": [{"record": record, "reason": why}]}

def b64(b):
    return base64.b64encode(b).decode()

# --- JSON arrays -------------------------------------------------------------------------
case("json_valid_baseline", "items", "three good rows, every column type",
     rows(3, ["id", "name", "qty", "price", "day", "attrs"], [
         ["1", "alpha", "5", "14.50", "2024-06-01", '{"a": 1}'],
         ["2", "beta", None, None, None, None],
         ["3", "gamma", "0", "0.10", "2024-12-31", "[1, 2]"]]),
     payload='[{"id":1,"name":"alpha","qty":5,"price":14.50,"day":"2024-06-01","attrs":{"a":1}},'
             '{"id":2,"name":"beta"},{"id":3,"name":"gamma","qty":0,"price":"0.10","day":"2024-12-31","attrs":[1,2]}]')
case("json_empty_file", "items", "a zero-byte payload is not a JSON array", rejected("before the array"), payload="")
case("json_whitespace_only", "items", "only whitespace is not a JSON array", rejected("before the array"), payload="  \n\t ")
case("json_empty_array", "items", "no rows is a valid empty report", rows(0), payload="[]")
case("json_top_level_null", "items", "null is an empty array, as documented (APIs send it for no rows)", rows(0), payload="null")
case("json_top_level_object", "items", "an object where the array should be", rejected("array"), payload='{"id":1,"name":"a"}')
case("json_not_json", "items", "an error page instead of JSON", rejected("invalid character"), payload="<html>502 Bad Gateway</html>")
case("json_truncated", "items", "the payload stops inside the second row", rejected("unexpected EOF"),
     payload='[{"id":1,"name":"a"},{"id":2,"na')
case("json_missing_close_bracket", "items", "the array is never closed", rejected("unexpected EOF"),
     payload='[{"id":1,"name":"a"},{"id":2,"name":"b"}')
case("json_trailing_garbage", "items", "bytes after the closing bracket", rejected("after"),
     payload='[{"id":1,"name":"a"}] {"id":2}')
case("json_row_not_object", "items", "a scalar and a list among the rows", dead(1, (0, 0, "object"), (0, 2, "object")),
     payload='[42,{"id":1,"name":"a"},[1,2]]')
case("json_id_wrong_type_text", "items", "a non-numeric id", dead(1, (0, 0, "id")),
     payload='[{"id":"abc","name":"a"},{"id":2,"name":"b"}]')
case("json_id_wrong_type_bool", "items", "a boolean id", dead(0, (0, 0, "id")), payload='[{"id":true,"name":"a"}]')
case("json_id_wrong_type_object", "items", "an object id", dead(0, (0, 0, "id")), payload='[{"id":{"v":1},"name":"a"}]')
case("json_id_numeric_text", "items", "a numeric id in a string is accepted", rows(1, ["id"], [["42"]]),
     payload='[{"id":"42","name":"a"}]')
case("json_id_integral_float", "items", "3.0 and 1e2 are integers", rows(2, ["id"], [["3"], ["100"]]),
     payload='[{"id":3.0,"name":"a"},{"id":1e2,"name":"b"}]')
case("json_id_fraction", "items", "3.5 is not a bigint", dead(0, (0, 0, "id")), payload='[{"id":3.5,"name":"a"}]')
case("json_missing_key_name", "items", "a row without its required name", dead(1, (0, 1, "name")),
     payload='[{"id":1,"name":"a"},{"id":2}]')
case("json_missing_key_id", "items", "a row without its key", dead(1, (0, 0, "id")),
     payload='[{"name":"a"},{"id":2,"name":"b"}]')
case("json_null_in_required", "items", "null name", dead(0, (0, 0, "not nullable")), payload='[{"id":1,"name":null}]')
case("json_null_in_optional", "items", "null qty loads as NULL", rows(1, ["id", "qty"], [["1", None]]),
     payload='[{"id":1,"name":"a","qty":null}]')
case("json_wrong_type_qty_text", "items", "qty 'many'", dead(1, (0, 0, "qty")),
     payload='[{"id":1,"name":"a","qty":"many"},{"id":2,"name":"b","qty":"7"}]')
case("json_out_of_range_integer", "items", "qty beyond 32 bits", dead(0, (0, 0, "qty")),
     payload='[{"id":1,"name":"a","qty":3000000000}]')
case("json_out_of_range_bigint", "items", "id beyond 64 bits", dead(0, (0, 0, "id")),
     payload='[{"id":9223372036854775808,"name":"a"}]')
case("json_bigint_limits", "items", "the extreme bigints load exactly",
     rows(2, ["id"], [["-9223372036854775808"], ["9223372036854775807"]]),
     payload='[{"id":9223372036854775807,"name":"max"},{"id":-9223372036854775808,"name":"min"}]')
case("json_rule_violation", "items", "negative qty breaks a rule", dead(1, (0, 1, "qty must not be negative")),
     payload='[{"id":1,"name":"a","qty":1},{"id":2,"name":"b","qty":-1}]')
case("json_numeric_nan", "items", "NaN is not a numeric value", dead(0, (0, 0, "price")),
     payload='[{"id":1,"name":"a","price":"NaN"}]')
case("json_numeric_exact", "items", "numeric keeps its exact decimal text",
     rows(2, ["id", "price"], [["1", "0.1000000000000000000000000001"], ["2", "12345678901234567890.5"]]),
     payload='[{"id":1,"name":"a","price":0.1000000000000000000000000001},{"id":2,"name":"b","price":"12345678901234567890.5"}]')
case("json_date_invalid", "items", "February 30th", dead(0, (0, 0, "day")), payload='[{"id":1,"name":"a","day":"2024-02-30"}]')
case("json_date_garbage", "items", "not a date", dead(0, (0, 0, "day")), payload='[{"id":1,"name":"a","day":"yesterday"}]')
case("json_text_nul", "items", "PostgreSQL text cannot hold NUL", dead(1, (0, 0, "name")),
     payload='[{"id":1,"name":"a\\u0000b"},{"id":2,"name":"b"}]')
case("json_jsonb_nul", "items", "PostgreSQL jsonb cannot hold \\u0000", dead(0, (0, 0, "attrs")),
     payload='[{"id":1,"name":"a","attrs":{"x":"a\\u0000"}}]')
case("json_text_object", "items", "an object where text is expected", dead(0, (0, 0, "name")),
     payload='[{"id":1,"name":{"first":"a"}}]')
case("json_invalid_utf8_in_string", "items",
     "invalid UTF-8 inside a string must not be loaded silently altered (U+FFFD)",
     dead(1, (0, 0, "UTF-8")), payload_b64=b64(b'[{"id":1,"name":"a\xff\xfeb"},{"id":2,"name":"ok"}]'))
case("json_invalid_utf8_between_tokens", "items", "a stray byte outside strings is invalid JSON",
     rejected("invalid character"), payload_b64=b64(b'[{"id":1,"name":"a"},\xff{"id":2,"name":"b"}]'))
case("json_valid_utf8_multibyte", "items", "multi-byte characters load unchanged",
     rows(1, ["name"], [["h\u00e9llo \u65e5\u672c \U0001F600"]]), payload='[{"id":1,"name":"h\u00e9llo \u65e5\u672c \U0001F600"}]')
case("json_bom", "items", "a UTF-8 byte order mark before the array", rows(1),
     payload_b64=b64(b'\xef\xbb\xbf[{"id":1,"name":"a"}]'))
case("json_duplicate_object_keys", "items", "the last of duplicate object keys wins, as in most JSON parsers",
     rows(1, ["name"], [["second"]]), payload='[{"id":1,"name":"first","name":"second"}]')
case("json_extra_keys", "items", "keys the spec does not use are ignored", rows(1),
     payload='[{"id":1,"name":"a",' + ",".join('"x%d":%d' % (i, i) for i in range(500)) + '}]')
case("json_deep_nesting_moderate", "items", "a 200-deep jsonb document loads", rows(1),
     payload='[{"id":1,"name":"a","attrs":' + "[" * 200 + "]" * 200 + '}]')
case("json_deep_nesting_extreme", "items", "100k nested arrays in one row: beyond any parser's depth",
     rejected("depth"), parts=[['[{"id":1,"name":"a","attrs":', 1], ["[", 100000], ["]", 100000], ["}]", 1]], gzip=True)
case("json_huge_field_fits", "items", "a 600 KB text field within the row limit", rows(1),
     parts=[['[{"id":1,"name":"', 1], ['x', 600000], ['"}]', 1]], gzip=True)
case("json_huge_field_over_row_limit", "items", "a 3 MB field beyond the 1 MiB row limit", rejected("too large"),
     parts=[['[{"id":1,"name":"', 1], ['x', 3000000], ['"}]', 1]], gzip=True)
case("json_duplicate_key_in_batch", "items", "the same key twice in one record: one row, the later one",
     rows(1, ["id", "name"], [["1", "second"]]), payload='[{"id":1,"name":"first"},{"id":1,"name":"second"}]')
case("json_duplicate_key_many", "items", "one key 50 times in one record",
     rows(2, ["id", "name"], [["1", "v49"], ["2", "other"]]),
     payload="[" + ",".join('{"id":1,"name":"v%d"}' % i for i in range(50)) + ',{"id":2,"name":"other"}]')
case("json_duplicate_key_across_records", "items",
     "a newer and an older extraction of the same key: the newer wins, whatever the order",
     rows(1, ["id", "name"], [["1", "newer"]]),
     records=[{"payload": '[{"id":1,"name":"newer"}]'}, {"payload": '[{"id":1,"name":"older"}]', "age_s": 3600}])
# --- gzip --------------------------------------------------------------------------------
case("gzip_valid", "items", "a gzipped payload", rows(2), payload='[{"id":1,"name":"a"},{"id":2,"name":"b"}]', gzip=True)
case("gzip_truncated", "items", "the gzip stream is cut short", rejected("unexpected EOF"),
     payload='[' + ",".join('{"id":%d,"name":"n%d"}' % (i, i) for i in range(200)) + ']', gzip=True, cut=40)
case("gzip_truncated_header", "items", "only the first bytes of the gzip header", rejected("gzip"),
     payload_b64=b64(b"\x1f\x8b\x08"), encoding="gzip")
case("gzip_not_gzip", "items", "plain JSON labelled gzip", rejected("gzip"),
     payload='[{"id":1,"name":"a"}]', encoding="gzip")
case("gzip_corrupt_deflate", "items", "a gzip header followed by garbage", rejected("flate"),
     payload_b64=b64(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + b"\xff" * 64), encoding="gzip")
case("gzip_empty", "items", "gzip of nothing is an empty payload", rejected("before the array"), payload="", gzip=True)
case("gzip_bomb_whitespace", "items", "30 MB of whitespace from a few KB", rejected("too large"),
     parts=[['[', 1], [' ', 30000000], ['{"id":1,"name":"a"}]', 1]], gzip=True)
case("gzip_bomb_zeros", "items", "30 MB of zero bytes", rejected("invalid character"),
     parts=[['', 1], ['\x00', 30000000], ['', 1]], gzip=True)
case("gzip_bomb_one_row", "items", "one 50 MB row from a few KB", rejected("too large"),
     parts=[['[{"id":1,"name":"', 1], ['a', 50000000], ['"}]', 1]], gzip=True)
case("gzip_two_members", "items", "two concatenated gzip members are one stream (RFC 1952)",
     rows(2), members=['[{"id":1,"name":"a"},', '{"id":2,"name":"b"}]'])
# --- NDJSON ------------------------------------------------------------------------------
case("ndjson_valid", "events", "three lines", rows(3), payload='{"id":1,"name":"a"}\n{"id":2,"name":"b"}\n{"id":3,"name":"c"}\n')
case("ndjson_empty_file", "events", "no lines: no rows", rows(0), payload="")
case("ndjson_bad_line", "events", "one corrupt line among good ones", dead(2, (0, 1, "invalid")),
     payload='{"id":1,"name":"a"}\n{"id":2,"name":\n{"id":3,"name":"c"}\n')
case("ndjson_line_not_object", "events", "a list where a row object should be", dead(1, (0, 0, "object")),
     payload='[1,2]\n{"id":2,"name":"b"}\n')
case("ndjson_blank_lines_crlf", "events", "blank lines and CRLF endings", rows(2),
     payload='\r\n{"id":1,"name":"a"}\r\n\r\n{"id":2,"name":"b"}\r\n')
case("ndjson_truncated_last_line", "events", "the last line is cut", dead(2, (0, 2, "unexpected")),
     payload='{"id":1,"name":"a"}\n{"id":2,"name":"b"}\n{"id":3,"na')
case("ndjson_huge_line", "events", "one line beyond the row limit; its neighbours load", dead(2, (0, 1, "too large")),
     parts=[['{"id":1,"name":"a"}\n{"id":2,"name":"', 1], ['y', 2000000], ['"}\n{"id":3,"name":"c"}\n', 1]], gzip=True)
case("ndjson_invalid_utf8", "events", "invalid UTF-8 in a line must not be loaded altered",
     dead(1, (0, 0, "UTF-8")), payload_b64=b64(b'{"id":1,"name":"\xc3\x28"}\n{"id":2,"name":"b"}\n'))
case("ndjson_duplicate_key", "events", "the same key on two lines: the later one",
     rows(1, ["id", "name"], [["1", "second"]]), payload='{"id":1,"name":"first"}\n{"id":1,"name":"second"}\n')
# --- CSV ---------------------------------------------------------------------------------
case("csv_valid", "sheet", "a header and three rows", rows(3, ["id", "name", "qty", "price"],
     [["1", "a", "5", "1.50"], ["2", "b,c", None, None], ["3", 'say "hi"', "0", "0"]]),
     payload='id,name,qty,price\n1,a,5,1.50\n2,"b,c",,\n3,"say ""hi""",0,0\n')
case("csv_empty_file", "sheet", "a CSV report without even its header row is not a report", rejected("want a header"), payload="")
case("csv_header_only", "sheet", "a header without rows", rows(0), payload="id,name,qty,price\n")
case("csv_unterminated_quote", "sheet", "a quote that never closes swallows the rest of the file",
     dead(1, (0, 1, "quote")), payload='id,name,qty,price\n1,a,1,1\n2,"b,2,2\n3,c,3,3\n')
case("csv_bare_quote", "sheet", "a quote inside an unquoted field", dead(2, (0, 1, "quote")),
     payload='id,name,qty,price\n1,a,1,1\n2,b"x,2,2\n3,c,3,3\n')
case("csv_wrong_field_count", "sheet", "a row with a missing field and one with an extra field",
     dead(1, (0, 0, "fields"), (0, 2, "fields")), payload='id,name,qty,price\n1,a,1\n2,b,2,2\n3,c,3,3,3\n')
case("csv_wrong_type", "sheet", "qty is not a number", dead(1, (0, 0, "qty")), payload='id,name,qty,price\n1,a,x,1\n2,b,2,2\n')
case("csv_quoted_newline", "sheet", "a quoted field spanning lines", rows(1, ["name"], [["two\nlines"]]),
     payload='id,name,qty,price\n1,"two\nlines",1,1\n')
case("csv_wrong_delimiter", "sheet", "semicolons: the header is one column, every row lacks id",
     dead(0, (0, 0, "id"), (0, 1, "id")), payload='id;name;qty;price\n1;a;1;1\n2;b;2;2\n')
case("csv_invalid_utf8", "sheet", "Latin-1 bytes in a UTF-8 report", dead(1, (0, 0, "UTF-8")),
     payload_b64=b64(b'id,name,qty,price\n1,caf\xe9,1,1\n2,b,2,2\n'))
case("csv_out_of_range", "sheet", "qty beyond 32 bits", dead(1, (0, 1, "qty")),
     payload='id,name,qty,price\n1,a,1,1\n2,b,99999999999,2\n')
case("csv_duplicate_key", "sheet", "the same id twice", rows(1, ["id", "name"], [["7", "later"]]),
     payload='id,name,qty,price\n7,earlier,1,1\n7,later,2,2\n')
case("csv_bom_crlf", "sheet", "a BOM and CRLF line ends, as spreadsheets write", rows(2),
     payload_b64=b64(b'\xef\xbb\xbfid,name,qty,price\r\n1,a,1,1\r\n2,b,2,2\r\n'))
# --- HTML --------------------------------------------------------------------------------
case("html_valid", "page", "a table with a header row", rows(2, ["id", "name"], [["1", "a & b"], ["2", "c"]]),
     payload="<html><body><table><tr><th>id</th><th>name</th><th>qty</th></tr>"
             "<tr><td>1</td><td>a &amp; b</td><td>3</td></tr><tr><td>2</td><td>c</td><td></td></tr></table></body></html>")
case("html_no_table", "page", "a page without any table (a login or error page)", rejected("table"),
     payload="<html><body><p>Session expired, please log in.</p></body></html>")
case("html_empty_file", "page", "an empty page", rejected("table"), payload="")
case("html_unclosed_tags", "page", "cells and rows never closed, as HTML allows", rows(2),
     payload="<table><tr><th>id<th>name<th>qty<tr><td>1<td>a<td>1<tr><td>2<td>b<td>2</table>")
case("html_short_row", "page", "a row with fewer cells than the header", dead(1, (0, 0, "cells")),
     payload="<table><tr><th>id</th><th>name</th></tr><tr><td>1</td></tr><tr><td>2</td><td>b</td></tr></table>")
case("html_header_only", "page", "a table with only its header row", rows(0),
     payload="<table><tr><th>id</th><th>name</th></tr></table>")
case("html_wrong_type", "page", "a non-numeric id cell", dead(1, (0, 1, "id")),
     payload="<table><tr><th>id</th><th>name</th></tr><tr><td>1</td><td>a</td></tr><tr><td>n/a</td><td>b</td></tr></table>")
# --- numeric keys ------------------------------------------------------------------------
case("numeric_key_scales", "amounts", "1, 1.0 and 1.00 are one key: one row, the last, nothing dead-lettered",
     rows(1, ["note"], [["c"]]), payload='[{"k":1,"note":"a"},{"k":1.0,"note":"b"},{"k":1.00,"note":"c"}]')
case("numeric_key_trailing_zero_text", "amounts", "2.5 and '2.50' are one key", rows(1, ["note"], [["text"]]),
     payload='[{"k":2.5,"note":"number"},{"k":"2.50","note":"text"}]')
case("numeric_key_distinct", "amounts", "1 and 1.01 are two keys", rows(2), payload='[{"k":1},{"k":1.01}]')
case("numeric_key_nan", "amounts", "NaN cannot be a key", dead(1, (0, 0, "k")), payload='[{"k":"NaN"},{"k":3}]')
case("double_key_negative_zero", "ratios", "-0.0 and 0.0 are one key: one row, the last",
     rows(1, ["note"], [["positive"]]), payload='[{"d":-0.0,"note":"negative"},{"d":0.0,"note":"positive"}]')
case("double_key_exponent_forms", "ratios", "1e0, 1.0 and 10e-1 are one double key", rows(1, ["note"], [["c"]]),
     payload='[{"d":1e0,"note":"a"},{"d":1.0,"note":"b"},{"d":10e-1,"note":"c"}]')
# --- claim checks: payloads beyond a NATS message, read from S3 ----------------------------
case("claim_check_many_rows", "events", "a 6 MB NDJSON report of 8000 rows, through S3, in many row batches", rows(8000),
     ndjson_rows={"count": 8000, "pad": 700}, claim_check=True)
case("claim_check_huge_fields", "items", "three rows with 900 KB fields each, through S3", rows(3),
     parts=[['[{"id":1,"name":"', 1], ["a", 900000], ['"},{"id":2,"name":"', 1], ["b", 900000], ['"},{"id":3,"name":"', 1],
            ["c", 900000], ['"}]', 1]], claim_check=True)
case("claim_check_gzip_bad_row", "events", "a gzipped report through S3 with one bad line in the middle",
     dead(2999, (0, 1500, "invalid")), ndjson_rows={"count": 3000, "pad": 100, "bad": [1500]}, claim_check=True, gzip=True)
# --- envelope ----------------------------------------------------------------------------
case("envelope_tampered", "items", "a record whose payload does not match its id and sha256 is rejected at staging",
     {"rows": 0, "rejected": [{"record": 0, "reason": "sha256", "stage": "stage"}]},
     payload='[{"id":1,"name":"a"}]', tamper=True)

names = [c["name"] for c in cases]
assert len(names) == len(set(names)), "duplicate case names"
with open("cases.json", "w") as f:
    f.write("[\n")
    for i, c in enumerate(cases):
        f.write("  " + json.dumps(c, ensure_ascii=True) + (",\n" if i < len(cases) - 1 else "\n"))
    f.write("]\n")
print(len(cases), "cases")
