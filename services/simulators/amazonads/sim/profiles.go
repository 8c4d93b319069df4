package sim

import (
	"fmt"
	"math"
)

// Account types of a profile's accountInfo.
const (
	AccountSeller = "seller"
	AccountVendor = "vendor"
	AccountAgency = "agency"
)

// Profile is an advertiser profile as GET /v2/profiles returns it.
type Profile struct {
	ProfileID    int64       `json:"profileId"`
	CountryCode  string      `json:"countryCode"`
	CurrencyCode string      `json:"currencyCode"`
	DailyBudget  float64     `json:"dailyBudget"`
	Timezone     string      `json:"timezone"`
	AccountInfo  AccountInfo `json:"accountInfo"`
}

// AccountInfo describes the account behind a profile.
type AccountInfo struct {
	MarketplaceStringID string `json:"marketplaceStringId"`
	ID                  string `json:"id"`
	Type                string `json:"type"`
	Name                string `json:"name"`
	ValidPaymentMethod  bool   `json:"validPaymentMethod"`
}

// Reportable reports whether reports can be requested for the profile
// (agency profiles cannot).
func (p Profile) Reportable() bool { return p.AccountInfo.Type != AccountAgency }

type marketplace struct {
	country, currency, timezone, id string
}

// marketplaces are real Amazon marketplaces with their ids and the
// timezone Amazon Ads reports them in.
var marketplaces = [...]marketplace{
	{"US", "USD", "America/Los_Angeles", "ATVPDKIKX0DER"},
	{"CA", "CAD", "America/Los_Angeles", "A2EUQ1WTGCTBG2"},
	{"MX", "MXN", "America/Los_Angeles", "A1AM78C64UM0Y8"},
	{"UK", "GBP", "Europe/London", "A1F83G8C2ARO7P"},
	{"DE", "EUR", "Europe/Paris", "A1PA6795UKMFR9"},
	{"FR", "EUR", "Europe/Paris", "A13V1IB3VIYZZH"},
	{"IT", "EUR", "Europe/Paris", "APJ6JRA9NG5V4"},
	{"ES", "EUR", "Europe/Paris", "A1RKKUPIHCS9HS"},
	{"JP", "JPY", "Asia/Tokyo", "A1VC38T7YXB528"},
	{"AU", "AUD", "Australia/Sydney", "A39IBJ37TRP1C6"},
}

// Profiles returns the profiles of cfg, in a stable order. Profile ids are
// 16-digit integers below 2^53, unique within the list.
func Profiles(cfg Config) []Profile {
	n := cfg.Profiles.Count
	out := make([]Profile, 0, n)
	seen := make(map[int64]bool, n)
	types := profileTypes(n, cfg.Profiles.AgencyShare, cfg.Profiles.VendorShare)
	for i := range n {
		h := mix(cfg.Seed, hashString("profile"), uint64(i))
		id := int64(1_000_000_000_000_000 + h%8_000_000_000_000_000)
		for seen[id] {
			h = splitmix64(h)
			id = int64(1_000_000_000_000_000 + h%8_000_000_000_000_000)
		}
		seen[id] = true
		m := marketplaces[mix(h, 1)%uint64(len(marketplaces))]
		typ := types[i]
		out = append(out, Profile{
			ProfileID:    id,
			CountryCode:  m.country,
			CurrencyCode: m.currency,
			DailyBudget:  float64(1000+mix(h, 2)%99000) / 100,
			Timezone:     m.timezone,
			AccountInfo: AccountInfo{
				MarketplaceStringID: m.id,
				ID:                  accountID(typ, mix(h, 3)),
				Type:                typ,
				Name:                fmt.Sprintf("%s account %d", typ, i+1),
				ValidPaymentMethod:  typ != AccountAgency,
			},
		})
	}
	return out
}

// spread reports whether index i is one of the floor(n*share) chosen ones of
// n, spread evenly: floor((i+1)*share) > floor(i*share).
func spread(i int, share float64) bool {
	return math.Floor(float64(i+1)*share+1e-9) > math.Floor(float64(i)*share+1e-9)
}

// profileTypes assigns floor(n*agency) agency profiles spread evenly over the
// indexes, then about n*vendor vendor profiles spread over the others.
func profileTypes(n int, agency, vendor float64) []string {
	out := make([]string, n)
	vendorShare := 0.0
	if agency < 1 {
		vendorShare = vendor / (1 - agency)
	}
	j := 0 // index among non-agency profiles
	for i := range out {
		switch {
		case spread(i, agency):
			out[i] = AccountAgency
		case spread(j, vendorShare):
			out[i], j = AccountVendor, j+1
		default:
			out[i], j = AccountSeller, j+1
		}
	}
	return out
}

// accountID mimics seller ids (A + 13 characters) and vendor entity ids.
func accountID(typ string, h uint64) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := []byte("A")
	if typ == AccountVendor {
		b = []byte("ENTITY")
	}
	for range 13 {
		b = append(b, alphabet[h%uint64(len(alphabet))])
		h = splitmix64(h)
	}
	return string(b)
}

// profileIndex finds profiles by id.
type profileIndex map[int64]Profile

func indexProfiles(ps []Profile) profileIndex {
	idx := make(profileIndex, len(ps))
	for _, p := range ps {
		idx[p.ProfileID] = p
	}
	return idx
}
