package sim

import "fmt"

// kind is the value type of a column.
type kind uint8

const (
	kindInt     kind = iota // integer (ids, counts)
	kindDecimal             // decimal number (money, rates)
	kindString              // text
	kindDate                // YYYY-MM-DD
)

// cell is one typed value, kept unboxed so that streaming a report does not
// allocate per value.
type cell struct {
	kind kind
	i    int64
	f    float64
	s    string
}

func intCell(i int64) cell   { return cell{kind: kindInt, i: i} }
func decCell(f float64) cell { return cell{kind: kindDecimal, f: f} }
func strCell(s string) cell  { return cell{kind: kindString, s: s} }
func dateCell(s string) cell { return cell{kind: kindDate, s: s} }
func centsCell(c int64) cell { return decCell(cents(c)) }
func (c cell) value() any {
	switch c.kind {
	case kindInt:
		return c.i
	case kindDecimal:
		return c.f
	default:
		return c.s
	}
}

// scope says where a column is available.
type scope uint8

const (
	scopeMetric   scope = iota // every report
	scopeCampaign              // campaign attributes: campaign and ad-group level
	scopeAdGroup               // ad-group attributes: ad-group level only
	scopeDaily                 // timeUnit DAILY only
	scopeSummary               // timeUnit SUMMARY only
)

// record is one report row before column selection. At campaign level
// adGroup is nil.
type record struct {
	campaign  *campaign
	adGroup   *adGroup
	date      string
	startDate string
	endDate   string
	m         metrics
}

// column is a report column: its name, type, availability and value.
type column struct {
	name  string
	kind  kind
	scope scope
	get   func(r *record) cell
}

// columnSet is the column catalogue of the Sponsored Products reports,
// indexed by name.
type columnSet map[string]*column

// spCatalogue is read-only after initialisation.
var spCatalogue = spColumns()

// spColumns returns the Sponsored Products columns the simulator generates.
func spColumns() columnSet {
	cols := []*column{
		{"date", kindDate, scopeDaily, func(r *record) cell { return dateCell(r.date) }},
		{"startDate", kindDate, scopeSummary, func(r *record) cell { return dateCell(r.startDate) }},
		{"endDate", kindDate, scopeSummary, func(r *record) cell { return dateCell(r.endDate) }},

		{"campaignId", kindInt, scopeCampaign, func(r *record) cell { return intCell(r.campaign.id) }},
		{"campaignName", kindString, scopeCampaign, func(r *record) cell { return strCell(r.campaign.name) }},
		{"campaignStatus", kindString, scopeCampaign, func(r *record) cell { return strCell(r.campaign.status) }},
		{"campaignBudgetAmount", kindDecimal, scopeCampaign, func(r *record) cell { return centsCell(r.campaign.budgetCents) }},
		{"campaignBudgetType", kindString, scopeCampaign, func(r *record) cell { return strCell(r.campaign.budgetType) }},
		{"campaignBudgetCurrencyCode", kindString, scopeCampaign, func(r *record) cell { return strCell(r.campaign.currency) }},
		{"campaignBiddingStrategy", kindString, scopeCampaign, func(r *record) cell { return strCell(r.campaign.biddingStrategy) }},

		{"adGroupId", kindInt, scopeAdGroup, func(r *record) cell { return intCell(r.adGroup.id) }},
		{"adGroupName", kindString, scopeAdGroup, func(r *record) cell { return strCell(r.adGroup.name) }},
		{"adStatus", kindString, scopeAdGroup, func(r *record) cell { return strCell(r.adGroup.status) }},

		{"impressions", kindInt, scopeMetric, func(r *record) cell { return intCell(r.m.impressions) }},
		{"clicks", kindInt, scopeMetric, func(r *record) cell { return intCell(r.m.clicks) }},
		{"cost", kindDecimal, scopeMetric, func(r *record) cell { return centsCell(r.m.costCents) }},
		{"spend", kindDecimal, scopeMetric, func(r *record) cell { return centsCell(r.m.costCents) }},
		{"costPerClick", kindDecimal, scopeMetric, func(r *record) cell { return decCell(r.m.costPerClick()) }},
		{"clickThroughRate", kindDecimal, scopeMetric, func(r *record) cell { return decCell(r.m.clickThroughRate()) }},
	}
	for w, suffix := range [windows]string{"1d", "7d", "14d", "30d"} {
		cols = append(cols,
			&column{"purchases" + suffix, kindInt, scopeMetric, func(r *record) cell { return intCell(r.m.purchases[w]) }},
			&column{"purchasesSameSku" + suffix, kindInt, scopeMetric, func(r *record) cell { return intCell(r.m.purchasesSku[w]) }},
			&column{"unitsSoldClicks" + suffix, kindInt, scopeMetric, func(r *record) cell { return intCell(r.m.units[w]) }},
			&column{"unitsSoldSameSku" + suffix, kindInt, scopeMetric, func(r *record) cell { return intCell(r.m.unitsSku[w]) }},
			&column{"sales" + suffix, kindDecimal, scopeMetric, func(r *record) cell { return centsCell(r.m.salesCents[w]) }},
			&column{"attributedSalesSameSku" + suffix, kindDecimal, scopeMetric, func(r *record) cell { return centsCell(r.m.salesSku[w]) }},
		)
	}
	set := make(columnSet, len(cols))
	for _, c := range cols {
		set[c.name] = c
	}
	return set
}

// reportType describes a supported reportTypeId.
type reportType struct {
	id        string
	adProduct string
	// groupBys are the accepted groupBy values; adGroupLevel says which of
	// them produce one row per ad group instead of per campaign.
	groupBys     []string
	adGroupLevel []string
	columns      columnSet
}

// Supported report type ids.
const (
	ReportSPCampaigns = "spCampaigns"
	ReportSPAdGroups  = "spAdGroups"
)

// Ad products of the v3 API.
const (
	AdSponsoredProducts = "SPONSORED_PRODUCTS"
	AdSponsoredBrands   = "SPONSORED_BRANDS"
	AdSponsoredDisplay  = "SPONSORED_DISPLAY"
)

// lookupReportType returns the report type with the given id.
func lookupReportType(id string) (*reportType, error) {
	switch id {
	case ReportSPCampaigns:
		return &reportType{id: id, adProduct: AdSponsoredProducts,
			groupBys: []string{"campaign", "adGroup"}, adGroupLevel: []string{"adGroup"}, columns: spCatalogue}, nil
	case ReportSPAdGroups:
		return &reportType{id: id, adProduct: AdSponsoredProducts,
			groupBys: []string{"adGroup"}, adGroupLevel: []string{"adGroup"}, columns: spCatalogue}, nil
	case "spTargeting", "spSearchTerm", "spAdvertisedProduct", "spPurchasedProduct", "sbPurchasedProduct",
		"sdCampaigns", "sbCampaigns":
		return nil, fmt.Errorf("reportTypeId %s is valid but not simulated (supported: %s, %s)",
			id, ReportSPCampaigns, ReportSPAdGroups)
	default:
		return nil, fmt.Errorf("invalid reportTypeId %q (supported: %s, %s)", id, ReportSPCampaigns, ReportSPAdGroups)
	}
}
