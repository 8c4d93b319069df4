package portal

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/sluice-dev/sluice/services/extractor/provider"
)

// kindReport is the task kind of one report download.
const kindReport = "report"

const day = "2006-01-02"

// maxListingPages bounds one listing walk: a portal whose next link never ends is broken.
const maxListingPages = 10000

// listedReport is one entry of a portal's report listing.
type listedReport struct {
	ID      string `json:"id"`
	Kind    string `json:"kind"`
	Account string `json:"account"`
	Date    string `json:"date"`
	URL     string `json:"url"`
}

type listingPage struct {
	Reports []listedReport `json:"reports"`
	Next    string         `json:"next"`
}

// taskParams say which report a task downloads.
type taskParams struct {
	Host string `json:"host"`
	listedReport
}

// Plan walks every portal's listing for the trigger's days and plans one task per report
// of a known kind, the portals taken in turn, each in listing order (deterministic, so
// task keys dedupe a re-plan).
func (p *crawler) Plan(ctx context.Context, t provider.Trigger) ([]provider.Task, error) {
	from, to := t.From.UTC().Format(day), t.To.UTC().Format(day)
	perHost := make([][]provider.Task, len(p.order))
	g, gctx := errgroup.WithContext(ctx)
	for i, host := range p.order {
		g.Go(func() error {
			tasks, err := p.list(gctx, p.sessions[host], from, to)
			perHost[i] = tasks
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return interleave(perHost), nil
}

// interleave takes one task of each portal in turn. Tasks are fetched in plan order and
// the tasks in flight are bounded (the consumer's MaxAckPending): listed portal after
// portal, they would all wait for the first portal's four slots while the other portals
// stay idle; taken in turn, every window of tasks spreads over every sub-domain.
func interleave(perHost [][]provider.Task) []provider.Task {
	var out []provider.Task
	for i := 0; ; i++ {
		added := false
		for _, ts := range perHost {
			if i < len(ts) {
				out = append(out, ts[i])
				added = true
			}
		}
		if !added {
			return out
		}
	}
}

func (p *crawler) list(ctx context.Context, s *session, from, to string) ([]provider.Task, error) {
	host := s.base.Hostname()
	next := "/reports?" + url.Values{"from": {from}, "to": {to}}.Encode()
	var out []provider.Task
	for pages := 0; next != ""; pages++ {
		if pages == maxListingPages {
			return nil, fmt.Errorf("portal %s: listing has more than %d pages", host, maxListingPages)
		}
		var lp listingPage
		if err := p.getJSON(ctx, s, next, &lp); err != nil {
			return nil, fmt.Errorf("portal %s: listing %s: %w", host, next, err)
		}
		for _, r := range lp.Reports {
			if _, ok := kindDatasets[r.Kind]; !ok {
				p.log.WarnContext(ctx, "skipping a report of an unknown kind", "host", host, "report", r.ID, "kind", r.Kind)
				continue
			}
			if r.ID == "" || r.URL == "" {
				return nil, fmt.Errorf("%w: portal %s: listing %s has a report without id or url", errPermanent, host, next)
			}
			task, err := provider.NewTask(kindReport, host+"/"+r.ID, taskParams{Host: host, listedReport: r})
			if err != nil {
				return nil, err
			}
			out = append(out, task)
		}
		next = lp.Next
	}
	return out, nil
}

func (p *crawler) getJSON(ctx context.Context, s *session, path string, v any) error {
	resp, err := s.get(ctx, path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(v); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	return nil
}

// dayOf parses a listed report's date for the record attributes.
func dayOf(s string) (time.Time, error) { return time.Parse(day, s) }
