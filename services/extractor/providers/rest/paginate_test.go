package rest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"
)

// fakeList serves 23 items, 1..23, with every pagination style.
func fakeList(t *testing.T) *httptest.Server {
	t.Helper()
	const total = 23
	page := func(from, n int) []map[string]int {
		var out []map[string]int
		for i := from; i < from+n && i <= total; i++ {
			out = append(out, map[string]int{"id": i})
		}
		return out
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/cursor", func(w http.ResponseWriter, r *http.Request) {
		from := 1
		if c := r.URL.Query().Get("after"); c != "" {
			from, _ = strconv.Atoi(c)
		}
		body := map[string]any{"data": page(from, 10)}
		if from+10 <= total {
			body["meta"] = map[string]any{"next": strconv.Itoa(from + 10)}
		} else {
			body["meta"] = map[string]any{"next": nil}
		}
		_ = json.NewEncoder(w).Encode(body)
	})
	mux.HandleFunc("/page", func(w http.ResponseWriter, r *http.Request) {
		p, _ := strconv.Atoi(r.URL.Query().Get("p"))
		size, _ := strconv.Atoi(r.URL.Query().Get("per_page"))
		_ = json.NewEncoder(w).Encode(map[string]any{"items": page((p-1)*size+1, size)})
	})
	mux.HandleFunc("/offset", func(w http.ResponseWriter, r *http.Request) {
		off, _ := strconv.Atoi(r.URL.Query().Get("offset"))
		size, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		_ = json.NewEncoder(w).Encode(page(off+1, size))
	})
	mux.HandleFunc("/link", func(w http.ResponseWriter, r *http.Request) {
		from := 1
		if c := r.URL.Query().Get("from"); c != "" {
			from, _ = strconv.Atoi(c)
		}
		if from+10 <= total {
			w.Header().Set("Link", fmt.Sprintf(`</link?from=%d>; rel="next", </link?from=1>; rel="first"`, from+10))
		}
		_ = json.NewEncoder(w).Encode(page(from, 10))
	})
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	return ts
}

func intp(i int) *int { return &i }

// TestPaginationStyles walks each style to the end over the same 23 items.
func TestPaginationStyles(t *testing.T) {
	t.Parallel()
	ts := fakeList(t)
	base, _ := url.Parse(ts.URL)
	cases := []struct {
		name   string
		stream Stream
		pages  int
	}{
		{"cursor in the body", Stream{List: Request{Path: "/cursor", Records: "data"}, Pagination: Pagination{Type: PageCursor, CursorPath: "meta.next", Param: "after"}}, 3},
		{"page number", Stream{List: Request{Path: "/page", Records: "items"}, Pagination: Pagination{Type: PageNumber, Param: "p", SizeParam: "per_page", PageSize: 5, Start: intp(1)}}, 5},
		{"page number, exact multiple ends on an empty page", Stream{List: Request{Path: "/page", Records: "items"}, Pagination: Pagination{Type: PageNumber, Param: "p", SizeParam: "per_page", PageSize: 23}}, 2},
		{"offset", Stream{List: Request{Path: "/offset"}, Pagination: Pagination{Type: PageOffset, Param: "offset", SizeParam: "limit", PageSize: 10}}, 3},
		{"Link header", Stream{List: Request{Path: "/link"}, Pagination: Pagination{Type: PageLink}}, 3},
		{"none", Stream{List: Request{Path: "/link"}, Pagination: Pagination{Type: PageNone}}, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			st := c.stream.firstState()
			var ids []int
			pages := 0
			for !st.Done {
				if pages > 50 {
					t.Fatal("no end")
				}
				u, err := c.stream.listURL(base, st, nil)
				if err != nil {
					t.Fatal(err)
				}
				resp, err := http.Get(u.String())
				if err != nil {
					t.Fatal(err)
				}
				var body json.RawMessage
				_ = json.NewDecoder(resp.Body).Decode(&body)
				resp.Body.Close()
				recs, err := records(body, c.stream.List.Records)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range recs {
					id, _, _ := scalar(r, "id")
					n, _ := strconv.Atoi(id)
					ids = append(ids, n)
				}
				if st, err = c.stream.advance(st, u, body, resp.Header, len(recs)); err != nil {
					t.Fatal(err)
				}
				pages++
			}
			if pages != c.pages {
				t.Errorf("%d pages, want %d", pages, c.pages)
			}
			want := 23
			if c.stream.Pagination.Type == PageNone {
				want = 10
			}
			if len(ids) != want {
				t.Fatalf("%d items, want %d: %v", len(ids), want, ids)
			}
			for i, id := range ids {
				if id != i+1 {
					t.Fatalf("items out of order or repeated: %v", ids)
				}
			}
			if st.Page != pages {
				t.Errorf("state counts %d pages, walked %d", st.Page, pages)
			}
		})
	}
}

func TestPaginationRefusesLoopsAndForeignLinks(t *testing.T) {
	t.Parallel()
	u, _ := url.Parse("https://api.test/items?from=1")
	cases := []struct {
		name   string
		s      Stream
		st     pageState
		body   string
		header http.Header
	}{
		{"same cursor again", Stream{Pagination: Pagination{Type: PageCursor, CursorPath: "next", Param: "c"}}, pageState{Cursor: "abc"}, `{"next":"abc"}`, nil},
		{"link to another host", Stream{Pagination: Pagination{Type: PageLink}}, pageState{}, `[]`, http.Header{"Link": {`<https://evil.test/items?from=2>; rel="next"`}}},
		{"link to itself", Stream{Pagination: Pagination{Type: PageLink}}, pageState{}, `[]`, http.Header{"Link": {`</items?from=1>; rel="next"`}}},
		{"cursor not a scalar", Stream{Pagination: Pagination{Type: PageCursor, CursorPath: "next", Param: "c"}}, pageState{}, `{"next":{"a":1}}`, nil},
	}
	for _, c := range cases {
		if _, err := c.s.advance(c.st, u, json.RawMessage(c.body), c.header, 1); err == nil {
			t.Errorf("%s: accepted", c.name)
		}
	}
}

func TestNextLink(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in   []string
		want string
	}{
		{[]string{`<https://a.test/x?p=2>; rel="next"`}, "https://a.test/x?p=2"},
		{[]string{`<https://a.test/x?p=1>; rel="prev", <https://a.test/x?p=3>; rel="next last"`}, "https://a.test/x?p=3"},
		{[]string{`<https://a.test/x?a=1,2>; rel=next`}, "https://a.test/x?a=1,2"},
		{[]string{`<https://a.test/x?p=1>; rel="prev"`}, ""},
		{[]string{`garbage`}, ""},
		{nil, ""},
	} {
		if got := nextLink(c.in); got != c.want {
			t.Errorf("nextLink(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestTemplateParams(t *testing.T) {
	t.Parallel()
	trig := triggerWith(map[string]string{"country": "PT"})
	for _, c := range []struct {
		in, want string
		ok       bool
	}{
		{"{trigger.params.country}", "PT", true},
		{"x-{trigger.from}", "x-2026-03-01", true},
		{"{trigger.params.missing}", "", false},
		{"plain", "plain", true},
	} {
		got, ok := expand(c.in, trig)
		if got != c.want || ok != c.ok {
			t.Errorf("expand(%q) = %q, %v; want %q, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}
