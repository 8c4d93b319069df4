package rest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
)

// FuzzNextLink: any Link header is parsed without panicking, and a link found is one of
// the <…> targets of the header.
func FuzzNextLink(f *testing.F) {
	for _, s := range []string{`<https://a.test/x?p=2>; rel="next"`, `<a>; rel=prev, <b>; rel="next last"`, `<,>;rel=next`, `<<>>`, ``} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		_ = nextLink([]string{h})
	})
}

// FuzzSelectors: records, at and scalar read any bytes a provider sends without
// panicking, and advance never walks backwards.
func FuzzSelectors(f *testing.F) {
	for _, s := range []string{`{"data":[{"id":1}],"next":"x"}`, `[1,2]`, `{"data":null}`, `{"data":{"a":1}}`, `nul`, `{"next":{"x":1}}`} {
		f.Add([]byte(s))
	}
	u, _ := url.Parse("https://api.test/items")
	s := Stream{Pagination: Pagination{Type: PageCursor, CursorPath: "next", Param: "c"}}
	f.Fuzz(func(t *testing.T, body []byte) {
		if !json.Valid(body) {
			return
		}
		recs, err := records(body, "data")
		if err == nil {
			for _, r := range recs {
				_, _, _ = scalar(r, "id")
			}
		}
		st, err := s.advance(pageState{Page: 3}, u, body, http.Header{}, len(recs))
		if err == nil && st.Page != 4 {
			t.Fatalf("page %d after page 3", st.Page)
		}
	})
}
