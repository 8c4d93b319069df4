package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// catalogNaivePool is the original system's fixed thread pool.
const catalogNaivePool = 16

// catalogNaive walks the catalog as the original system did: the list sequentially, the
// details on a fixed pool of threads taking the API keys in turn, each call retried on
// 429 after Retry-After (or a second) and on 5xx after a second. It is the baseline, not
// product code. It is far slower than the quota allows (its retries synchronise and
// arrive as bursts), so it stops after budget: the ratio is a rate (wall time per admitted
// call against the quota's), the same whether it ran to the end or not.
func catalogNaive(ctx context.Context, env *Env, sc catalogScale, budget time.Duration) (extractResult, error) {
	ctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	dir, err := os.MkdirTemp("", "sluice-bench-catalog-naive")
	if err != nil {
		return extractResult{}, err
	}
	defer os.RemoveAll(dir)
	sim, err := startCatalogSim(env, sc, filepath.Join(dir, "log"))
	if err != nil {
		return extractResult{}, err
	}
	defer sim.Stop(10 * time.Second)
	keys := sc.apiKeys()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: catalogNaivePool * 2}}
	get := func(ctx context.Context, key, url string, out any) error {
		for attempt := 0; attempt < 50; attempt++ {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return err
			}
			req.Header.Set("X-Api-Key", key)
			resp, err := client.Do(req)
			if err != nil {
				return err
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				return err
			}
			switch {
			case resp.StatusCode == http.StatusOK:
				return json.Unmarshal(body, out)
			case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
				wait := time.Second
				if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
					wait = time.Duration(s) * time.Second
				}
				select {
				case <-time.After(wait):
				case <-ctx.Done():
					return ctx.Err()
				}
			default:
				return fmt.Errorf("GET %s: %s", url, resp.Status)
			}
		}
		return fmt.Errorf("GET %s: too many retries", url)
	}
	if err := sim.reset(); err != nil {
		return extractResult{}, err
	}
	start := time.Now()
	ids := make(chan int64, catalogNaivePool)
	errs := make(chan error, catalogNaivePool)
	var wg sync.WaitGroup
	for w := range catalogNaivePool {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range ids {
				var doc map[string]any
				if err := get(ctx, keys[w%len(keys)], fmt.Sprintf("%s/v1/hotels/%d", sim.url, id), &doc); err != nil {
					if ctx.Err() == nil {
						errs <- err
					}
					return
				}
			}
		}()
	}
	cursor := ""
	for page := 0; ; page++ {
		url := sim.url + "/v1/hotels?limit=100"
		if cursor != "" {
			url += "&cursor=" + cursor
		}
		var p struct {
			Data []struct {
				ID int64 `json:"id"`
			} `json:"data"`
			NextCursor *string `json:"next_cursor"`
		}
		if err := get(ctx, keys[page%len(keys)], url, &p); err != nil {
			if ctx.Err() != nil {
				break
			}
			close(ids)
			wg.Wait()
			return extractResult{}, err
		}
		sent := true
		for _, d := range p.Data {
			select {
			case ids <- d.ID:
			case <-ctx.Done():
				sent = false
			}
			if !sent {
				break
			}
		}
		if !sent || p.NextCursor == nil {
			break
		}
		cursor = *p.NextCursor
	}
	close(ids)
	wg.Wait()
	select {
	case err := <-errs:
		return extractResult{}, err
	default:
	}
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return extractResult{}, err
	}
	st, err := sim.stats()
	if err != nil {
		return extractResult{}, err
	}
	res := catalogResult("naive", sc, time.Since(start), st)
	env.Logf("catalog %s", res)
	return res, nil
}
