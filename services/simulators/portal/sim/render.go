package sim

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"html"
	"strconv"
	"strings"
)

// render returns the file of report r and its content type.
func (s *Server) render(r Report) ([]byte, string) {
	switch r.Kind {
	case KindSettlement:
		return s.renderCSV(r), "text/csv; charset=utf-8"
	case KindInventory:
		return s.renderHTML(r), "text/html; charset=utf-8"
	default:
		return s.renderJSON(r), "application/json"
	}
}

// renderCSV writes a spreadsheet-style export: a UTF-8 BOM, a preamble line, CRLF line
// ends, and fields quoted only where needed (commas, quotes doubled, newlines inside).
func (s *Server) renderCSV(r Report) []byte {
	var b bytes.Buffer
	b.WriteString("\uFEFF")
	w := csv.NewWriter(&b)
	w.UseCRLF = true
	_ = w.Write([]string{"Settlement report for " + r.Account, r.Date})
	_ = w.Write([]string{"Order ID", "Posted Date", "Product", "Quantity", "Gross", "Fees", "Net", "Currency"})
	for _, l := range s.settlements(r) {
		_ = w.Write([]string{l.OrderID, l.Date, l.Product, strconv.Itoa(l.Quantity), l.Gross, l.Fees, l.Net, l.Currency})
	}
	w.Flush()
	return b.Bytes()
}

// renderHTML writes a portal page: a layout table first, then the report table with a
// header row in <thead>; cells carry entities and line breaks.
func (s *Server) renderHTML(r Report) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "<!DOCTYPE html>\n<html><head><title>Inventory %s %s</title><style>td{padding:2px}</style></head><body>\n", r.Account, r.Date)
	b.WriteString("<table class=\"layout\"><tr><td><a href=\"/reports\">Reports</a></td><td>Help</td></tr></table>\n")
	if s.malformed(r) {
		b.WriteString("<p>Report generation failed. Please try again later.</p></body></html>\n")
		return []byte(b.String())
	}
	b.WriteString("<table id=\"inventory\">\n<thead><tr><th>SKU</th><th>Product</th><th>On hand</th><th>Reserved</th></tr></thead>\n<tbody>\n")
	for _, row := range s.inventory(r) {
		product := strings.ReplaceAll(html.EscapeString(row.Product), " ", "\n  ")
		fmt.Fprintf(&b, "<tr><td>%s</td><td>%s</td><td>%d</td><td>%d</td></tr>\n", row.SKU, product, row.OnHand, row.Reserved)
	}
	b.WriteString("</tbody></table>\n</body></html>\n")
	return []byte(b.String())
}

type trafficFile struct {
	Account string       `json:"account"`
	Date    string       `json:"date"`
	Rows    []trafficRow `json:"rows"`
}

type trafficRow struct {
	SKU       string `json:"sku"`
	Sessions  int    `json:"sessions"`
	PageViews int    `json:"page_views"`
}

func (s *Server) renderJSON(r Report) []byte {
	if s.malformed(r) {
		return []byte(`{"account":"` + r.Account + `","date":"` + r.Date + `","rows":[{"sku":"SKU-0001","sessions":12,,}`)
	}
	f := trafficFile{Account: r.Account, Date: r.Date, Rows: []trafficRow{}}
	for _, t := range s.traffic(r) {
		f.Rows = append(f.Rows, trafficRow{SKU: t.SKU, Sessions: t.Sessions, PageViews: t.PageViews})
	}
	b, _ := json.Marshal(f) // plain structs: cannot fail
	return b
}
