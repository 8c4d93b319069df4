package rest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// pageState is where a stream's walk stands: saved in the checkpoints after each page
// emitted, so a restarted task requests the next page, never an earlier one.
type pageState struct {
	// Page counts pages emitted; it names the next page's records (source key).
	Page    int    `json:"page"`
	Cursor  string `json:"cursor,omitempty"`
	Number  int    `json:"number,omitempty"`
	Offset  int    `json:"offset,omitempty"`
	NextURL string `json:"next_url,omitempty"`
	Done    bool   `json:"done,omitempty"`
	// Since is the incremental lower bound this run was started with; MaxCursor the
	// largest cursor field seen so far.
	Since     string `json:"since,omitempty"`
	MaxCursor string `json:"max_cursor,omitempty"`
}

func (s *Stream) firstState() pageState {
	st := pageState{}
	if s.Pagination.Type == PageNumber {
		st.Number = 1
		if s.Pagination.Start != nil {
			st.Number = *s.Pagination.Start
		}
	}
	return st
}

// listURL is the URL of the page st stands at. params are the list parameters expanded
// from the trigger.
func (s *Stream) listURL(base *url.URL, st pageState, params map[string]string) (*url.URL, error) {
	if st.NextURL != "" {
		return url.Parse(st.NextURL)
	}
	u := base.JoinPath(s.List.Path)
	q := u.Query()
	for k, v := range params {
		q.Set(k, v)
	}
	pg := s.Pagination
	if pg.SizeParam != "" {
		q.Set(pg.SizeParam, strconv.Itoa(pg.PageSize))
	}
	switch pg.Type {
	case PageCursor:
		if st.Cursor != "" {
			q.Set(pg.Param, st.Cursor)
		}
	case PageNumber:
		q.Set(pg.Param, strconv.Itoa(st.Number))
	case PageOffset:
		q.Set(pg.Param, strconv.Itoa(st.Offset))
	}
	if s.Incremental != nil && st.Since != "" {
		q.Set(s.Incremental.Param, st.Since)
	}
	u.RawQuery = q.Encode()
	return u, nil
}

// advance returns the state after the page at st (requested at pageURL) answered body
// and header with n records.
func (s *Stream) advance(st pageState, pageURL *url.URL, body json.RawMessage, header http.Header, n int) (pageState, error) {
	next := st
	next.Page++
	pg := s.Pagination
	switch pg.Type {
	case PageNone:
		next.Done = true
	case PageCursor:
		tok, ok, err := scalar(body, pg.CursorPath)
		if err != nil {
			return st, fmt.Errorf("pagination.cursor_path: %w", err)
		}
		switch {
		case !ok:
			next.Done = true
		case tok == st.Cursor:
			return st, fmt.Errorf("pagination: the API answered the same cursor %q again (a loop)", tok)
		default:
			next.Cursor = tok
		}
	case PageNumber:
		next.Number++
		next.Done = n == 0 || n < pg.PageSize
	case PageOffset:
		next.Offset += n
		next.Done = n == 0 || n < pg.PageSize
	case PageLink:
		link := nextLink(header.Values("Link"))
		if link == "" {
			next.Done = true
			break
		}
		u, err := pageURL.Parse(link)
		if err != nil {
			return st, fmt.Errorf("pagination: Link next %q: %w", link, err)
		}
		// Credentials go with every request: never follow a link to another server.
		if u.Scheme != pageURL.Scheme || u.Host != pageURL.Host {
			return st, fmt.Errorf("pagination: Link next %s leaves the API's host %s", u.Redacted(), pageURL.Host)
		}
		if u.String() == pageURL.String() {
			return st, fmt.Errorf("pagination: Link next points at the same page (a loop)")
		}
		next.NextURL = u.String()
	}
	return next, nil
}

// nextLink returns the target of rel="next" in Link headers (RFC 8288), or "".
func nextLink(values []string) string {
	for _, v := range values {
		for _, part := range splitLinks(v) {
			target, params, ok := strings.Cut(part, ";")
			target = strings.TrimSpace(target)
			if !ok || !strings.HasPrefix(target, "<") || !strings.HasSuffix(target, ">") {
				continue
			}
			for _, p := range strings.Split(params, ";") {
				k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
				if !strings.EqualFold(strings.TrimSpace(k), "rel") {
					continue
				}
				for _, rel := range strings.Fields(strings.Trim(strings.TrimSpace(val), `"`)) {
					if strings.EqualFold(rel, "next") {
						return target[1 : len(target)-1]
					}
				}
			}
		}
	}
	return ""
}

// splitLinks splits a Link header at the commas between links (not inside <…>).
func splitLinks(v string) []string {
	var out []string
	depth, start := 0, 0
	for i, r := range v {
		switch r {
		case '<':
			depth++
		case '>':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, v[start:i])
				start = i + 1
			}
		}
	}
	return append(out, v[start:])
}
