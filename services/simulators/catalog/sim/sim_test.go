package sim

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"testing"
	"time"
)

func get(t *testing.T, ts *httptest.Server, key, path string, out any) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, ts.URL+path, nil)
	req.Header.Set("X-Api-Key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode == 200 {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatal(err)
		}
	}
	return resp
}

func TestListWalksEveryHotelOnceAndDetailsVaryBySupplier(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	cfg.Hotels, cfg.KeyRate = 257, 0
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	var ids []int64
	cursor := ""
	for pages := 0; ; pages++ {
		var p listPage
		path := "/v1/hotels?limit=50"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		if r := get(t, ts, cfg.APIKeys[0], path, &p); r.StatusCode != 200 {
			t.Fatalf("list: %s", r.Status)
		}
		for _, d := range p.Data {
			ids = append(ids, d.ID)
		}
		if p.NextCursor == nil {
			break
		}
		cursor = *p.NextCursor
	}
	if len(ids) != 257 || ids[0] != 1 || ids[256] != 257 {
		t.Fatalf("walked %d hotels (%v…)", len(ids), ids[:3])
	}
	if got := srv.PageRequests(); len(got) != 6 || got[1] != 1 || got[251] != 1 {
		t.Errorf("page counter %v", got)
	}
	shapes := map[string]bool{}
	for id := int64(1); id <= 20; id++ {
		var d map[string]any
		get(t, ts, cfg.APIKeys[1], "/v1/hotels/"+itoa(id), &d)
		if !reflect.DeepEqual(d["supplier"], MakeHotel(cfg.Seed, id).Supplier) {
			t.Fatalf("hotel %d: supplier %v", id, d["supplier"])
		}
		_, alpha := d["id"]
		_, beta := d["hotelId"]
		shapes[map[bool]string{true: "alpha"}[alpha]+map[bool]string{true: "beta"}[beta]] = true
	}
	if !shapes["alpha"] || !shapes["beta"] || len(shapes) != 2 {
		t.Errorf("detail shapes %v: want both suppliers' and nothing else", shapes)
	}
	if r := get(t, ts, "wrong", "/v1/hotels", nil); r.StatusCode != 401 {
		t.Errorf("unknown key: %s", r.Status)
	}
	if r := get(t, ts, cfg.APIKeys[0], "/v1/hotels?cursor=bogus", nil); r.StatusCode != 400 {
		t.Errorf("bad cursor: %s", r.Status)
	}
}

func itoa(i int64) string { return strconv.FormatInt(i, 10) }

func TestPerKeyLimitAnswers429(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	cfg.KeyRate, cfg.KeyBurst, cfg.NoRetryAfter = 1, 2, 0
	srv, _ := New(cfg)
	ts := httptest.NewServer(srv)
	defer ts.Close()
	var codes []int
	for range 4 {
		codes = append(codes, get(t, ts, cfg.APIKeys[0], "/v1/hotels/1", nil).StatusCode)
	}
	// The other key has its own quota.
	if c := get(t, ts, cfg.APIKeys[1], "/v1/hotels/1", nil).StatusCode; c != 200 {
		t.Errorf("second key: %d", c)
	}
	if codes[0] != 200 || codes[1] != 200 || codes[2] != 429 || codes[3] != 429 {
		t.Errorf("codes %v, want 200 200 429 429 (burst 2)", codes)
	}
	r := get(t, ts, cfg.APIKeys[0], "/v1/hotels/1", nil)
	if r.StatusCode == 429 && r.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After although no-retry-after is 0")
	}
	if st := srv.Stats(); st.Throttled < 2 || st.PerKey[cfg.APIKeys[1]] != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestExpectedIsDeterministicAndFilters(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	cfg.Hotels = 500
	a, b := Expected(cfg, time.Time{}), Expected(cfg, time.Time{})
	if !reflect.DeepEqual(a, b) || len(a) != 500 {
		t.Fatal("Expected is not a pure function of the config")
	}
	mid := UpdatedAt(cfg.Seed, 250)
	for _, h := range Expected(cfg, mid) {
		if !h.UpdatedAt.After(mid) {
			t.Fatalf("hotel %d updated %v, not after %v", h.ID, h.UpdatedAt, mid)
		}
	}
}
