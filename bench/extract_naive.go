package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// naiveVariant does the extraction's work the way an asyncio.gather over all profiles
// does: every profile at once, each retrying on 429 after Retry-After (or a second),
// polling its report at a fixed interval. It is the baseline, not product code.
func naiveVariant(ctx context.Context, env *Env, sc extractScale) (extractResult, error) {
	res := extractResult{name: "naive", quota: sc.quota}
	dir, err := os.MkdirTemp("", "sluice-bench-naive")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	sim, err := startExtractSim(env, sc, false, filepath.Join(dir, "log"))
	if err != nil {
		return res, err
	}
	defer sim.Stop(10 * time.Second)

	c := &naiveClient{base: sim.url, http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1 << 14, MaxIdleConns: 1 << 14}}}
	if err := c.login(ctx); err != nil {
		return res, err
	}
	if err := sim.reset(); err != nil {
		return res, err
	}
	start := time.Now()
	var profiles []struct {
		ProfileID int64 `json:"profileId"`
	}
	if err := c.call(ctx, http.MethodGet, "/v2/profiles", "", nil, &profiles); err != nil {
		return res, err
	}
	day := time.Now().UTC().AddDate(0, 0, -1).Format("2006-01-02")
	var wg sync.WaitGroup
	errs := make(chan error, len(profiles))
	for _, p := range profiles {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.report(ctx, strconv.FormatInt(p.ProfileID, 10), day); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return res, err
	}
	res.wall = time.Since(start)
	st, err := sim.stats()
	if err != nil {
		return res, err
	}
	api := st.Rates["api"]
	res.admitted, res.requests, res.maxInWindow = api.Admitted, api.Requests, api.MaxInWindow
	env.Logf("extract %s", res)
	return res, nil
}

type naiveClient struct {
	base  string
	http  *http.Client
	token string
}

func (c *naiveClient) login(ctx context.Context) error {
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"Atzr|sluice-sim-refresh-token"},
		"client_id": {"amzn1.application-oa2-client.sluicesim"}, "client_secret": {"sluice-sim-secret"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/auth/o2/token", strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
		return fmt.Errorf("naive login: %s %v", resp.Status, err)
	}
	c.token = tok.AccessToken
	return nil
}

// call sends one API call, retrying on 429 after Retry-After or one second.
func (c *naiveClient) call(ctx context.Context, method, path, scope string, body []byte, out any) error {
	for {
		req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Amazon-Advertising-API-ClientId", "amzn1.application-oa2-client.sluicesim")
		req.Header.Set("Authorization", "Bearer "+c.token)
		if scope != "" {
			req.Header.Set("Amazon-Advertising-API-Scope", scope)
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/vnd.createasyncreportrequest.v3+json")
		}
		resp, err := c.http.Do(req)
		if err != nil {
			return err
		}
		if resp.StatusCode == http.StatusTooManyRequests {
			wait := time.Second
			if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
				wait = time.Duration(s) * time.Second
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			select {
			case <-time.After(wait):
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			return fmt.Errorf("%s %s: %s %s", method, path, resp.Status, msg)
		}
		return json.NewDecoder(resp.Body).Decode(out)
	}
}

// report creates, polls every 300 ms and downloads one profile's report.
func (c *naiveClient) report(ctx context.Context, profile, day string) error {
	body := fmt.Sprintf(`{"name":"naive","startDate":%q,"endDate":%q,"configuration":{"adProduct":"SPONSORED_PRODUCTS","reportTypeId":"spCampaigns","groupBy":["campaign"],"columns":["date","campaignId","impressions","clicks","cost"],"timeUnit":"DAILY","format":"GZIP_JSON"}}`, day, day)
	var rep struct {
		ReportID string  `json:"reportId"`
		Status   string  `json:"status"`
		URL      *string `json:"url"`
	}
	if err := c.call(ctx, http.MethodPost, "/reporting/reports", profile, []byte(body), &rep); err != nil {
		return err
	}
	for rep.Status != "COMPLETED" {
		if rep.Status == "FAILED" {
			return fmt.Errorf("report %s failed", rep.ReportID)
		}
		select {
		case <-time.After(300 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
		if err := c.call(ctx, http.MethodGet, "/reporting/reports/"+rep.ReportID, profile, nil, &rep); err != nil {
			return err
		}
	}
	resp, err := c.http.Get(*rep.URL)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}
