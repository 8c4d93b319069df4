package portal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/sluice-dev/sluice/internal/apiclient"
)

// ErrNoBrowser is returned by a browser login where the Chromium binary is missing.
var ErrNoBrowser = errors.New("chromium not found")

// browser signs in to portals whose login page sets the session cookie from a script.
// It runs headless Chromium for the login only; downloads then go through the governed
// client with the browser's cookies.
type browser struct {
	path    string
	timeout time.Duration
	proxy   string
	resolve map[string]string
}

// The login page's elements a browser login fills in and clicks.
const (
	selUser     = "#username"
	selPassword = "#password"
	selSubmit   = "#submit"
)

// login signs in at base's login page and returns the cookies the page set. While the
// browser runs, the call holds one of the host's concurrency slots (a governed request
// of the login page kept open), so the browser's requests — one at a time: the page and
// its script's sign-in call — never make a fifth at once.
func (b *browser) login(ctx context.Context, client *apiclient.Client, base *url.URL, user, password string) ([]*http.Cookie, error) {
	if _, err := os.Stat(b.path); err != nil {
		return nil, fmt.Errorf("%w: %w at %s (install Debian's chromium package)", errPermanent, ErrNoBrowser, b.path)
	}
	loginURL := base.JoinPath(loginPath).String()
	hold, err := http.NewRequestWithContext(ctx, http.MethodGet, loginURL, nil)
	if err != nil {
		return nil, err
	}
	slot, err := client.Do(ctx, hold)
	if err != nil {
		return nil, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(slot.Body, 1<<20))
	defer slot.Body.Close()

	dir, err := os.MkdirTemp("", "sluice-chromium-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, b.flags(dir)...)
	defer cancelAlloc()
	tctx, cancelTab := chromedp.NewContext(actx)
	defer cancelTab()
	tctx, cancel := context.WithTimeout(tctx, b.timeout)
	defer cancel()

	var cookies []*network.Cookie
	err = chromedp.Do(tctx,
		chromedp.Navigate(loginURL),
		chromedp.WaitVisible(selUser),
		chromedp.SendKeys(selUser, user),
		chromedp.SendKeys(selPassword, password),
		chromedp.Click(selSubmit),
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			for {
				res, err := cdp.Call(ctx, t, network.GetCookies, network.GetCookiesParams{URLs: []string{base.String()}})
				if err != nil {
					return err
				}
				if len(res.Cookies) > 0 {
					cookies = res.Cookies
					return nil
				}
				select {
				case <-ctx.Done():
					return fmt.Errorf("no session cookie after submitting the login form: %w", ctx.Err())
				case <-time.After(50 * time.Millisecond):
				}
			}
		}),
	)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("browser login at %s: %w", loginURL, err)
	}
	out := make([]*http.Cookie, len(cookies))
	for i, c := range cookies {
		out[i] = &http.Cookie{Name: c.Name, Value: c.Value}
	}
	return out, nil
}

// flags are the Chromium flags that work on a closed network as root: no sandbox, no GPU,
// no QUIC, no background traffic, a fresh profile.
func (b *browser) flags(dir string) []chromedp.ExecAllocatorOption {
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(b.path),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(dir),
	}
	if b.proxy != "" {
		opts = append(opts, chromedp.ProxyServer(b.proxy))
	}
	if len(b.resolve) > 0 {
		hosts := make([]string, 0, len(b.resolve))
		for h := range b.resolve {
			hosts = append(hosts, h)
		}
		sort.Strings(hosts)
		rules := make([]string, len(hosts))
		for i, h := range hosts {
			rules[i] = "MAP " + h + " " + b.resolve[h]
		}
		opts = append(opts, chromedp.Flag("host-resolver-rules", strings.Join(rules, ", ")))
	}
	return opts
}
