package portal

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/rowsource"
	"github.com/sluice-dev/sluice/internal/spec"
	"github.com/sluice-dev/sluice/internal/transform"
	sluicev1 "github.com/sluice-dev/sluice/proto/sluice/v1"
	"github.com/sluice-dev/sluice/services/simulators/portal/sim"
)

// TestDatasetsParseEveryReportExactly runs the crawled reports through the dataset specs,
// as the transformer does, and compares the rows with the simulator's expected rows:
// CSV with a BOM, a preamble and quoted commas, quotes and line breaks; HTML with entities
// and a layout table before the report; JSON; and the daily summary of the settlements.
// Malformed reports fail as a whole with a data error.
func TestDatasetsParseEveryReportExactly(t *testing.T) {
	scfg := formPortals(sim.DefaultConfig())
	scfg.MalformedEvery = 3
	tb := newTestbed(t, scfg)
	p := tb.provider(t)
	col := crawl(t, p, 8)
	want := tb.sim.Expected(testFrom, testTo)

	specs := map[string]*spec.Spec{}
	for _, sp := range p.Datasets() {
		specs[sp.Dataset] = sp
	}
	got := map[string][]string{}
	failed := map[string]bool{}
	for _, r := range col.recs {
		rows, err := transformRecord(t, specs[r.dataset], r)
		if err != nil {
			if !rowsource.IsDataError(err) {
				t.Errorf("%s %s: %v, want a data error", r.dataset, r.sourceKey, err)
			}
			failed[r.sourceKey] = true
			continue
		}
		got[r.dataset] = append(got[r.dataset], rows...)
	}
	var malformed []string
	for _, r := range want.Malformed {
		malformed = append(malformed, r.Host+"/"+r.ID)
	}
	if len(malformed) == 0 || len(failed) != len(malformed) {
		t.Errorf("records that failed: %v, want the malformed reports %v", failed, malformed)
	}

	var settle, inv, traffic, dailyRows []string
	for _, r := range want.Settlements {
		settle = append(settle, strings.Join([]string{r.Host, r.Account, r.OrderID, r.Date, r.Product, strconv.Itoa(r.Quantity), r.Gross, r.Fees, r.Net, r.Currency}, "|"))
	}
	for _, d := range want.Daily() {
		dailyRows = append(dailyRows, fmt.Sprintf("%s|%s|%s|%s|%d|%d|%s|%s|%s", d.Host, d.Account, d.Date, d.Currency, d.Orders, d.Units, d.Gross, d.Fees, d.Net))
	}
	for _, r := range want.Inventory {
		inv = append(inv, strings.Join([]string{r.Host, r.Account, r.Date, r.SKU, r.Product, strconv.Itoa(r.OnHand), strconv.Itoa(r.Reserved)}, "|"))
	}
	for _, r := range want.Traffic {
		traffic = append(traffic, strings.Join([]string{r.Host, r.Account, r.Date, r.SKU, strconv.Itoa(r.Sessions), strconv.Itoa(r.PageViews)}, "|"))
	}
	for ds, w := range map[string][]string{dsSettlement: settle, dsDailySettlement: dailyRows, dsInventory: inv, dsTraffic: traffic} {
		g := got[ds]
		slices.Sort(g)
		slices.Sort(w)
		if len(w) == 0 || !slices.Equal(g, w) {
			t.Errorf("%s: rows differ\n got %q\nwant %q", ds, g, w)
		}
	}
}

// transformRecord applies sp to one emitted record and renders each row as text.
func transformRecord(t *testing.T, sp *spec.Spec, r raw) ([]string, error) {
	t.Helper()
	prog, err := spec.Compile(sp)
	if err != nil {
		t.Fatal(err)
	}
	src, err := rowsource.Open(sp.Format, bytes.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	_, err = transform.Run(context.Background(), prog, spec.Record{Provider: providerName, Dataset: r.dataset, SourceKey: r.sourceKey, Attributes: r.attrs, ExtractedAt: time.Now()},
		src, func(row *sluicev1.Row) error {
			cells := make([]string, len(row.Values))
			for i, v := range row.Values {
				cells[i] = valueText(v)
			}
			rows = append(rows, strings.Join(cells, "|"))
			return nil
		}, func(re transform.RowError) error {
			t.Errorf("%s %s: %v", r.dataset, r.sourceKey, re)
			return nil
		})
	return rows, err
}

func valueText(v *sluicev1.Value) string {
	switch k := v.Kind.(type) {
	case *sluicev1.Value_String_:
		return k.String_
	case *sluicev1.Value_Int:
		return strconv.FormatInt(k.Int, 10)
	case *sluicev1.Value_Decimal:
		return k.Decimal
	case *sluicev1.Value_Timestamp:
		return k.Timestamp.AsTime().Format(day)
	}
	return fmt.Sprint(v)
}
