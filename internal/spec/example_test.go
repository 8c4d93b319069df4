package spec_test

import (
	"fmt"
	"os"

	"github.com/sluice-dev/sluice/internal/spec"
)

// The spec of the Amazon Ads spCampaigns daily report, as a provider registers it in the
// sluice-specs bucket.
func ExampleParse() {
	data, err := os.ReadFile("../transform/testdata/amazonads_sp_campaigns/spec.json")
	if err != nil {
		fmt.Println(err)
		return
	}
	s, err := spec.Parse(data)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(spec.Bucket, s.Key(), s.Version)
	for _, c := range s.Columns {
		fmt.Printf("%s %s\n", c.Name, c.Type.PostgresType())
	}
	// Output:
	// sluice-specs amazonads.sp_campaigns_daily 1
	// profile_id bigint
	// campaign_id bigint
	// campaign_name text
	// date date
	// impressions bigint
	// clicks bigint
	// cost numeric
	// purchases_7d bigint
	// click_through_rate double precision
	// report_source text
}

func ExampleSpec_Validate() {
	s := &spec.Spec{
		Provider: "amazonads", Dataset: "sp_campaigns_daily", Version: 1, Table: "sp_campaigns",
		Format: spec.Format{Type: spec.JSONArray},
		Columns: []spec.Column{
			{Name: "campaign_id", Type: spec.BigInt, Expr: "row.campaignId"},
			{Name: "date", Type: spec.Date, Expr: "rwo.date"},
		},
		PrimaryKey: []string{"campaign_id", "dat"},
	}
	fmt.Println(s.Validate())
	// Output:
	// columns[1].expr: undeclared reference to 'rwo' (did you mean 'row'?) (at 1:1)
	// primary_key[1]: column "dat" not declared
}
