package rest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/sluice-dev/sluice/internal/apiclient"
	"github.com/sluice-dev/sluice/internal/ratelimit"
	"github.com/sluice-dev/sluice/services/extractor/provider"
	"github.com/sluice-dev/sluice/services/extractor/provider/checkpoint"
)

// kindStream is the task kind: one task walks one stream.
const kindStream = "stream"

// maxBody bounds one response body: pages and documents are held in memory until
// emitted, so a runaway answer must not take the process down.
const maxBody = 64 << 20

// FullRefreshParam is the trigger parameter that makes a run ignore the incremental
// state (it is still advanced at the end): `sluice run catalog --param full_refresh=true`.
const FullRefreshParam = "full_refresh"

type taskParams struct {
	Stream      string            `json:"stream"`
	Params      map[string]string `json:"params,omitempty"`
	FullRefresh bool              `json:"full_refresh,omitempty"`
}

// incState is a stream's incremental state, kept across runs.
type incState struct {
	Cursor string `json:"cursor"`
}

// Plan makes one task per stream, with the list parameters filled from the trigger.
func (p *restProvider) Plan(ctx context.Context, t provider.Trigger) ([]provider.Task, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var tasks []provider.Task
	for _, s := range p.api.Manifest.Streams {
		tp := taskParams{Stream: s.Name, Params: map[string]string{}, FullRefresh: t.Params[FullRefreshParam] == "true"}
		for k, v := range s.List.Params {
			if val, ok := expand(v, t); ok {
				tp.Params[k] = val
			}
		}
		task, err := provider.NewTask(kindStream, "stream="+s.Name, tp)
		if err != nil {
			return nil, err
		}
		tasks = append(tasks, task)
	}
	return tasks, nil
}

// Run walks a stream from its checkpoint: each page (with its details) is emitted as one
// record per dataset of the stream, then the checkpoint moves past it.
func (p *restProvider) Run(ctx context.Context, t provider.Task, emit provider.Emitter) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var tp taskParams
	if err := t.DecodeParams(&tp); err != nil {
		return fmt.Errorf("%w: %v", provider.ErrPermanent, err)
	}
	s, err := p.api.Manifest.stream(tp.Stream)
	if err != nil {
		return fmt.Errorf("%w: %v", provider.ErrPermanent, err)
	}
	ck := p.deps.Services.Checkpoints
	cur, err := checkpoint.Load[pageState](ctx, ck, ck.Key("pages", s.Name, t.RunID))
	if err != nil {
		return err
	}
	if cur.Value.Done {
		// Finished before; the incremental state may not have been raised yet (a failure
		// right after the last page's checkpoint): raising it again is harmless.
		return p.advanceIncremental(ctx, s, cur.Value)
	}
	if !cur.Found {
		cur.Value = s.firstState()
		if s.Incremental != nil {
			cur.Value.Since = s.Incremental.Start
			if !tp.FullRefresh {
				inc, err := checkpoint.Load[incState](ctx, ck, ck.Key("incremental", s.Name))
				if err != nil {
					return err
				}
				if inc.Value.Cursor != "" {
					cur.Value.Since = inc.Value.Cursor
				}
			}
		}
		// Pin the lower bound: a restarted task must not pick up a newer state.
		if cur, err = checkpoint.Save(ctx, ck, cur); err != nil {
			return err
		}
	}
	w := &walk{p: p, s: s, tp: tp, emit: emit, cur: cur, scope: scopeOf(tp, cur.Value.Since)}
	if err := w.run(ctx); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("stream %s: %w", s.Name, context.Cause(ctx))
		}
		return fmt.Errorf("stream %s: %w", s.Name, err)
	}
	return nil
}

// scopeOf names what a run of a stream asks for (parameters, incremental bound), so that
// pages of different questions get different source keys.
func scopeOf(tp taskParams, since string) string {
	keys := make([]string, 0, len(tp.Params))
	for k := range tp.Params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h := sha256.New()
	for _, k := range keys {
		fmt.Fprintf(h, "%s=%s\n", k, tp.Params[k])
	}
	fmt.Fprintf(h, "since=%s\n", since)
	return hex.EncodeToString(h.Sum(nil)[:6])
}

// page is one list page on its way through the pipeline.
type page struct {
	at, next pageState
	items    []json.RawMessage
	// ids are the detail ids of the items (with a detail fan-out).
	ids []string
	// docs are the detail documents, by item; nil for an item whose detail is gone (404).
	docs    []json.RawMessage
	pending atomic.Int64
	done    chan struct{}
}

type detailJob struct {
	pg *page
	i  int
	id string
}

// walk is one attempt at a stream: a lister fetches pages ahead, detail workers (per API
// key) fetch their documents, and the emitter emits pages in order and checkpoints them.
type walk struct {
	p     *restProvider
	s     *Stream
	tp    taskParams
	emit  provider.Emitter
	cur   checkpoint.Cursor[pageState]
	scope string
}

func (w *walk) run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	// ahead holds a slot per page fetched and not yet emitted: at most prefetch pages are,
	// which is all a restart can request again. pages and dispatch never block the lister
	// beyond that, so list calls run ahead of the details instead of between them.
	ahead := make(chan struct{}, w.p.s.prefetch)
	pages := make(chan *page, w.p.s.prefetch)
	dispatch := make(chan *page, w.p.s.prefetch)
	jobs := make(chan detailJob, w.p.keys*w.p.s.limits.Concurrency)
	g.Go(func() error { return w.list(gctx, ahead, pages, dispatch) })
	g.Go(func() error { return w.dispatch(gctx, dispatch, jobs) })
	if w.s.Detail != nil {
		for k := range w.p.keys {
			for range w.p.s.limits.Concurrency {
				g.Go(func() error { return w.details(gctx, k, jobs) })
			}
		}
	}
	g.Go(func() error { return w.emitPages(gctx, ahead, pages) })
	return g.Wait()
}

// list walks the pages from the checkpoint on; it spreads list calls over the keys.
func (w *walk) list(ctx context.Context, ahead chan<- struct{}, pages, dispatch chan<- *page) error {
	defer close(pages)
	defer close(dispatch)
	st := w.cur.Value
	for !st.Done {
		select {
		case ahead <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		u, err := w.s.listURL(w.p.s.base, st, w.tp.Params)
		if err != nil {
			return err
		}
		body, header, err := w.p.get(ctx, st.Page%w.p.keys, u)
		if err != nil {
			return fmt.Errorf("list page %d: %w", st.Page, err)
		}
		items, err := records(body, w.s.List.Records)
		if err != nil {
			return fmt.Errorf("%w: list page %d: %v", provider.ErrPermanent, st.Page, err)
		}
		next, err := w.s.advance(st, u, body, header, len(items))
		if err != nil {
			return fmt.Errorf("%w: list page %d: %v", provider.ErrPermanent, st.Page, err)
		}
		next.NextURL = w.p.withoutQueryKey(next.NextURL)
		pg := &page{at: st, next: next, items: items, done: make(chan struct{})}
		if w.s.Detail != nil {
			for i, it := range items {
				id, ok, err := scalar(it, w.s.Detail.ID)
				if err != nil || !ok {
					return fmt.Errorf("%w: list page %d, record %d: no id at %q (%v)", provider.ErrPermanent, st.Page, i, w.s.Detail.ID, err)
				}
				pg.ids = append(pg.ids, id)
			}
			pg.docs = make([]json.RawMessage, len(items))
			pg.pending.Store(int64(len(items)))
		}
		if len(pg.ids) == 0 {
			close(pg.done)
		}
		for _, ch := range []chan<- *page{pages, dispatch} {
			select {
			case ch <- pg:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		st = next
	}
	return nil
}

// dispatch queues the detail calls of each page, in page order.
func (w *walk) dispatch(ctx context.Context, pages <-chan *page, jobs chan<- detailJob) error {
	defer close(jobs)
	for pg := range pages {
		for i, id := range pg.ids {
			select {
			case jobs <- detailJob{pg: pg, i: i, id: id}:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	return nil
}

// details fetches detail documents with key k.
func (w *walk) details(ctx context.Context, k int, jobs <-chan detailJob) error {
	for {
		var j detailJob
		var ok bool
		select {
		case j, ok = <-jobs:
			if !ok {
				return nil
			}
		case <-ctx.Done():
			return ctx.Err()
		}
		u := w.p.s.base.JoinPath(strings.ReplaceAll(w.s.Detail.Path, "{id}", url.PathEscape(j.id)))
		body, _, err := w.p.get(ctx, k, u)
		var se *apiclient.StatusError
		switch {
		case errors.As(err, &se) && (se.StatusCode == http.StatusNotFound || se.StatusCode == http.StatusGone):
			// Deleted between the list and the detail call: it is no longer in the catalog.
			w.p.deps.Log.WarnContext(ctx, "detail gone", "stream", w.s.Name, "id", j.id, "status", se.StatusCode)
		case err != nil:
			return fmt.Errorf("detail %s: %w", j.id, err)
		default:
			doc, err := at(body, w.s.Detail.Records)
			if err != nil || doc == nil {
				return fmt.Errorf("%w: detail %s: no document at %q (%v)", provider.ErrPermanent, j.id, w.s.Detail.Records, err)
			}
			j.pg.docs[j.i] = doc
		}
		if j.pg.pending.Add(-1) == 0 {
			close(j.pg.done)
		}
	}
}

// emitPages emits pages in order and saves the checkpoint after each one.
func (w *walk) emitPages(ctx context.Context, ahead <-chan struct{}, pages <-chan *page) error {
	for {
		var pg *page
		var ok bool
		select {
		case pg, ok = <-pages:
			if !ok {
				return nil
			}
		case <-ctx.Done():
			return ctx.Err()
		}
		select {
		case <-pg.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		if err := w.emitPage(ctx, pg); err != nil {
			return err
		}
		<-ahead
	}
}

func (w *walk) emitPage(ctx context.Context, pg *page) error {
	recs := pg.items
	if w.s.Detail != nil {
		recs = recs[:0:0]
		for _, d := range pg.docs {
			if d != nil {
				recs = append(recs, d)
			}
		}
	}
	next := pg.next
	next.Since, next.MaxCursor = pg.at.Since, pg.at.MaxCursor
	if inc := w.s.Incremental; inc != nil {
		for i, it := range pg.items {
			v, ok, err := scalar(it, inc.CursorField)
			if err != nil {
				return fmt.Errorf("%w: page %d, record %d: incremental.cursor_field: %v", provider.ErrPermanent, pg.at.Page, i, err)
			}
			if ok && greater(v, next.MaxCursor) {
				next.MaxCursor = v
			}
		}
	}
	if len(recs) > 0 {
		payload := append([]byte{'['}, bytes.Join(toBytes(recs), []byte{','})...)
		payload = append(payload, ']')
		for _, ds := range w.s.Datasets {
			if err := w.emit.Emit(ctx, provider.Raw{
				Dataset:     ds,
				SourceKey:   fmt.Sprintf("stream=%s/scope=%s/page=%06d", w.s.Name, w.scope, pg.at.Page),
				ContentType: "application/json",
				Body:        bytes.NewReader(payload),
				Attributes:  map[string]string{"stream": w.s.Name, "page": strconv.Itoa(pg.at.Page)},
			}); err != nil {
				return fmt.Errorf("emit page %d: %w", pg.at.Page, err)
			}
		}
	}
	w.cur.Value = next
	ck := w.p.deps.Services.Checkpoints
	var err error
	if w.cur, err = checkpoint.Save(ctx, ck, w.cur); err != nil {
		return err
	}
	if next.Done {
		return w.p.advanceIncremental(ctx, w.s, next)
	}
	return nil
}

// advanceIncremental raises stream s's incremental state to the largest cursor value a
// finished walk saw (never lowers it).
func (p *restProvider) advanceIncremental(ctx context.Context, s *Stream, done pageState) error {
	v := done.MaxCursor
	if s.Incremental == nil || v == "" {
		return nil
	}
	ck := p.deps.Services.Checkpoints
	for {
		inc, err := checkpoint.Load[incState](ctx, ck, ck.Key("incremental", s.Name))
		if err != nil {
			return err
		}
		if !greater(v, inc.Value.Cursor) {
			return nil
		}
		inc.Value.Cursor = v
		if _, err := checkpoint.Save(ctx, ck, inc); !errors.Is(err, checkpoint.ErrConflict) {
			return err
		}
	}
}

// greater compares cursor values as numbers when both are, else as strings.
func greater(a, b string) bool {
	if b == "" {
		return a != ""
	}
	x, okx := new(big.Float).SetString(a)
	y, oky := new(big.Float).SetString(b)
	if okx && oky {
		return x.Cmp(y) > 0
	}
	return a > b
}

func toBytes(rs []json.RawMessage) [][]byte {
	out := make([][]byte, len(rs))
	for i, r := range rs {
		out[i] = bytes.TrimSpace(r)
	}
	return out
}

// get calls u with API key k under the governor (key k's quota) and reads the body.
func (p *restProvider) get(ctx context.Context, k int, u *url.URL) (json.RawMessage, http.Header, error) {
	ctx = withKey(ctx, k)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := p.deps.Services.HTTP.Do(ctx, req, apiclient.WithQuota(quotaAPI), apiclient.WithKey(p.keyIDs[k]),
		apiclient.WithThrottleScope(ratelimit.ScopeKey))
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, nil, fmt.Errorf("GET %s: read body: %w", u.Path, err)
	}
	if len(body) > maxBody {
		return nil, nil, fmt.Errorf("%w: GET %s: body over %d bytes", provider.ErrPermanent, u.Path, maxBody)
	}
	if !json.Valid(body) {
		return nil, nil, fmt.Errorf("GET %s: the answer is not JSON: %.100q", u.Path, body)
	}
	return body, resp.Header, nil
}

// withoutQueryKey removes an API key sent in the query from a next-page link before it is
// saved in the checkpoints (APIs echo the query in their Link headers); Authorize sets it
// again on the request.
func (p *restProvider) withoutQueryKey(link string) string {
	a := p.api.Manifest.Auth
	if link == "" || a.Type != AuthAPIKey || a.In != "query" {
		return link
	}
	u, err := url.Parse(link)
	if err != nil {
		return link
	}
	q := u.Query()
	q.Del(a.Name)
	u.RawQuery = q.Encode()
	return u.String()
}
