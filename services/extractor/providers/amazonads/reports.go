package amazonads

import "sort"

// Report types this provider extracts.
const (
	ReportSPCampaigns = "spCampaigns"
	ReportSPAdGroups  = "spAdGroups"
)

// report is one v3 report definition and the dataset its rows go to. The columns must
// match the dataset spec under datasets/.
type report struct {
	typeID    string
	dataset   string
	adProduct string
	groupBy   []string
	columns   []string
}

// reports are the supported report types, DAILY, by reportTypeId.
var reports = map[string]report{
	ReportSPCampaigns: {
		typeID: ReportSPCampaigns, dataset: "sp_campaigns", adProduct: "SPONSORED_PRODUCTS",
		groupBy: []string{"campaign"},
		columns: []string{"date", "campaignId", "campaignName", "campaignStatus", "campaignBudgetAmount",
			"campaignBudgetType", "campaignBudgetCurrencyCode", "impressions", "clicks", "cost",
			"costPerClick", "clickThroughRate", "purchases1d", "purchases7d", "purchases14d", "purchases30d",
			"sales1d", "sales7d", "sales14d", "sales30d", "unitsSoldClicks7d", "unitsSoldClicks14d"},
	},
	ReportSPAdGroups: {
		typeID: ReportSPAdGroups, dataset: "sp_ad_groups", adProduct: "SPONSORED_PRODUCTS",
		groupBy: []string{"adGroup"},
		columns: []string{"date", "campaignId", "adGroupId", "adGroupName", "adStatus", "impressions",
			"clicks", "cost", "purchases7d", "purchases14d", "sales7d", "sales14d", "unitsSoldClicks7d"},
	},
}

// Columns returns the columns requested for a report type (for tests that compute the
// expected rows).
func Columns(reportType string) []string {
	return append([]string(nil), reports[reportType].columns...)
}

// Dataset returns the dataset a report type's rows go to.
func Dataset(reportType string) string { return reports[reportType].dataset }

func reportTypeNames() []string {
	out := make([]string, 0, len(reports))
	for n := range reports {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
