package sim

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// Report kinds and their formats: partners publish a settlement in CSV, an inventory
// snapshot as an HTML page and traffic as JSON.
const (
	KindSettlement = "settlement" // text/csv, UTF-8 BOM, a preamble line, quoting quirks
	KindInventory  = "inventory"  // text/html, <table id="inventory"> with a header row
	KindTraffic    = "traffic"    // application/json, {"account","date","rows":[…]}
)

// Kinds lists the report kinds in listing order.
func Kinds() []string { return []string{KindSettlement, KindInventory, KindTraffic} }

const day = "2006-01-02"

// Report identifies one report of one portal.
type Report struct {
	Host    string `json:"-"`
	ID      string `json:"id"`
	Kind    string `json:"kind"`
	Account string `json:"account"`
	Date    string `json:"date"`
	// URL is the download path on the portal.
	URL string `json:"url"`
}

// Settlement is one line of a settlement report.
type Settlement struct {
	Host, Account, Date string
	OrderID             string
	Product             string
	Quantity            int
	// Gross, Fees and Net are exact decimals with two places; Net = Gross − Fees.
	Gross, Fees, Net string
	Currency         string
}

// Inventory is one row of an inventory report.
type Inventory struct {
	Host, Account, Date string
	SKU, Product        string
	OnHand, Reserved    int
}

// Traffic is one row of a traffic report.
type Traffic struct {
	Host, Account, Date string
	SKU                 string
	Sessions, PageViews int
}

// reportsOn lists the reports of portal p on date d, in listing order.
func reportsOn(p Portal, d string) []Report {
	var out []Report
	for _, acct := range p.Accounts {
		for _, k := range Kinds() {
			id := k + "-" + acct + "-" + strings.ReplaceAll(d, "-", "")
			out = append(out, Report{Host: p.Host, ID: id, Kind: k, Account: acct, Date: d, URL: "/reports/" + id + "/download"})
		}
	}
	return out
}

// days lists from..to (YYYY-MM-DD, both included).
func days(from, to time.Time) []string {
	var out []string
	for d := from; !d.After(to); d = d.AddDate(0, 0, 1) {
		out = append(out, d.Format(day))
	}
	return out
}

func (s *Server) rng(parts ...string) *rand.Rand {
	h := fnv.New64a()
	fmt.Fprint(h, s.cfg.Seed)
	for _, p := range parts {
		h.Write([]byte{0})
		h.Write([]byte(p))
	}
	v := h.Sum64()
	return rand.New(rand.NewPCG(v, v^0x9e3779b97f4a7c15))
}

// malformed reports whether report r is served broken (inventory and traffic only).
func (s *Server) malformed(r Report) bool {
	if s.cfg.MalformedEvery == 0 || r.Kind == KindSettlement {
		return false
	}
	return s.rng("malformed", r.Host, r.ID).IntN(s.cfg.MalformedEvery) == 0
}

// products have the names that break naive CSV writers: commas, quotes, newlines.
var products = []string{
	"Widget, large", `Gadget 12" screen`, "Plain sprocket", "Café crème mug",
	"Cable\nspare part", `Bolt "M6", zinc`, "Hinge & bracket", "Lamp <LED>",
}

func (s *Server) currency(host, acct string) string {
	if s.rng("currency", host, acct).IntN(2) == 0 {
		return "USD"
	}
	return "EUR"
}

func (s *Server) settlements(r Report) []Settlement {
	g := s.rng(r.Host, r.ID)
	n := 2 + g.IntN(4)
	cur := s.currency(r.Host, r.Account)
	out := make([]Settlement, n)
	for i := range out {
		gross := 100 + g.IntN(99900) // cents
		fees := g.IntN(gross/5 + 1)
		out[i] = Settlement{
			Host: r.Host, Account: r.Account, Date: r.Date,
			OrderID:  fmt.Sprintf("%s-%s-%03d", strings.ToUpper(r.Account), strings.ReplaceAll(r.Date, "-", ""), i+1),
			Product:  products[g.IntN(len(products))],
			Quantity: 1 + g.IntN(9),
			Gross:    cents(gross), Fees: cents(fees), Net: cents(gross - fees),
			Currency: cur,
		}
	}
	return out
}

func (s *Server) inventory(r Report) []Inventory {
	g := s.rng(r.Host, r.ID)
	n := 2 + g.IntN(4)
	out := make([]Inventory, n)
	for i := range out {
		out[i] = Inventory{
			Host: r.Host, Account: r.Account, Date: r.Date,
			// An HTML cell's whitespace collapses: the product as a parser reads it.
			SKU: fmt.Sprintf("SKU-%04d", g.IntN(10000)*10+i), Product: strings.Join(strings.Fields(products[g.IntN(len(products))]), " "),
			OnHand: g.IntN(500), Reserved: g.IntN(50),
		}
	}
	return out
}

func (s *Server) traffic(r Report) []Traffic {
	g := s.rng(r.Host, r.ID)
	n := 2 + g.IntN(4)
	out := make([]Traffic, n)
	for i := range out {
		sessions := g.IntN(5000)
		out[i] = Traffic{
			Host: r.Host, Account: r.Account, Date: r.Date,
			SKU: fmt.Sprintf("SKU-%04d", g.IntN(10000)*10+i), Sessions: sessions, PageViews: sessions + g.IntN(3000),
		}
	}
	return out
}

func cents(c int) string { return fmt.Sprintf("%d.%02d", c/100, c%100) }

// Expected holds the rows a correct crawl of a date range yields, malformed reports left
// out, and the malformed reports themselves.
type Expected struct {
	Reports     []Report
	Settlements []Settlement
	Inventory   []Inventory
	Traffic     []Traffic
	Malformed   []Report
}

// Expected returns what the portals serve for from..to (UTC days, both included).
func (s *Server) Expected(from, to time.Time) Expected {
	var e Expected
	for _, p := range s.cfg.Portals {
		for _, d := range days(from, to) {
			for _, r := range reportsOn(p, d) {
				e.Reports = append(e.Reports, r)
				if s.malformed(r) {
					e.Malformed = append(e.Malformed, r)
					continue
				}
				switch r.Kind {
				case KindSettlement:
					e.Settlements = append(e.Settlements, s.settlements(r)...)
				case KindInventory:
					e.Inventory = append(e.Inventory, s.inventory(r)...)
				case KindTraffic:
					e.Traffic = append(e.Traffic, s.traffic(r)...)
				}
			}
		}
	}
	return e
}

// Daily is one row of the daily settlement summary: the lines of one portal, account,
// day and currency.
type Daily struct {
	Host, Account, Date, Currency string
	Orders, Units                 int64
	// Gross, Fees and Net are exact decimals with two places.
	Gross, Fees, Net string
}

// Daily sums the expected settlement lines by portal, account, day and currency, in
// order of first appearance.
func (e Expected) Daily() []Daily {
	type sum struct {
		d                Daily
		gross, fees, net int64
	}
	var order []string
	sums := map[string]*sum{}
	for _, l := range e.Settlements {
		k := l.Host + "|" + l.Account + "|" + l.Date + "|" + l.Currency
		s := sums[k]
		if s == nil {
			s = &sum{d: Daily{Host: l.Host, Account: l.Account, Date: l.Date, Currency: l.Currency}}
			sums[k] = s
			order = append(order, k)
		}
		s.d.Orders++
		s.d.Units += int64(l.Quantity)
		s.gross += centsOf(l.Gross)
		s.fees += centsOf(l.Fees)
		s.net += centsOf(l.Net)
	}
	out := make([]Daily, len(order))
	for i, k := range order {
		s := sums[k]
		s.d.Gross, s.d.Fees, s.d.Net = cents(int(s.gross)), cents(int(s.fees)), cents(int(s.net))
		out[i] = s.d
	}
	return out
}

// centsOf parses a two-place decimal written by cents.
func centsOf(d string) int64 {
	whole, frac, _ := strings.Cut(d, ".")
	w, _ := strconv.ParseInt(whole, 10, 64)
	f, _ := strconv.ParseInt(frac, 10, 64) // base 10: "09" is nine cents
	return w*100 + f
}
