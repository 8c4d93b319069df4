package sim

import "fmt"

// campaign is a Sponsored Products campaign of a profile. Its attributes do
// not change from day to day.
type campaign struct {
	id              int64
	name            string
	status          string
	budgetCents     int64
	budgetType      string
	currency        string
	biddingStrategy string
	theme           string
	seed            uint64
	active          bool
}

// adGroup is an ad group of a campaign.
type adGroup struct {
	id         int64
	name       string
	status     string
	seed       uint64
	scale      float64 // typical daily impressions
	priceCents int64   // average price of the advertised products
	active     bool    // ad group and its campaign are ENABLED
}

// Entity statuses, also the values of the campaignStatus and adStatus filters.
const (
	StatusEnabled  = "ENABLED"
	StatusPaused   = "PAUSED"
	StatusArchived = "ARCHIVED"
)

var (
	// themes include a non-ASCII name and one with a quote so that clients
	// exercise UTF-8 and JSON escaping.
	themes = [...]string{"Kitchen Knives", "Yoga Mats", "Water Bottles", "Phone Cases", "Dog Toys",
		"Coffee Beans", "LED Strips", "Running Socks", "Küchenmesser", `12" Pizza Stones`, "Desk Lamps",
		"Garden Hoses"}
	targetings = [...]string{"Auto", "Manual - Exact", "Manual - Broad", "Manual - Phrase", "Brand Defense",
		"Competitor"}
	biddingStrategies = [...]string{"legacyForSales", "autoForSales", "manual"}
)

// entityGen derives a profile's entities from the seed, one at a time, so
// that generating a report never holds more than one entity in memory.
type entityGen struct {
	seed      uint64
	profile   Profile
	campaigns int
	adGroups  int
}

func newEntityGen(cfg Config, p Profile) entityGen {
	return entityGen{
		seed:      mix(cfg.Seed, hashString("entities"), uint64(p.ProfileID)),
		profile:   p,
		campaigns: cfg.Data.CampaignsPerProfile,
		adGroups:  cfg.Data.AdGroupsPerCampaign,
	}
}

// entityID returns a 15-digit id, like the real ones (e.g. 158410630682987).
func entityID(h uint64) int64 {
	return int64(100_000_000_000_000 + h%900_000_000_000_000)
}

func pickStatus(s *stream, enabled, paused float64) string {
	switch f := s.float(); {
	case f < enabled:
		return StatusEnabled
	case f < enabled+paused:
		return StatusPaused
	default:
		return StatusArchived
	}
}

// campaign returns the campaign with index ci.
func (g entityGen) campaign(ci int) campaign {
	h := mix(g.seed, hashString("campaign"), uint64(ci))
	s := newStream(h)
	theme := themes[s.intn(int64(len(themes)))]
	c := campaign{
		id:              entityID(s.next()),
		name:            fmt.Sprintf("SP - %s - %s %03d", theme, targetings[s.intn(int64(len(targetings)))], ci+1),
		status:          pickStatus(s, 0.75, 0.15),
		budgetCents:     s.between(2, 100) * 500,
		budgetType:      "DAILY",
		currency:        g.profile.CurrencyCode,
		biddingStrategy: biddingStrategies[s.intn(int64(len(biddingStrategies)))],
		theme:           theme,
		seed:            s.next(),
	}
	c.active = c.status == StatusEnabled
	return c
}

// adGroup returns the ad group with index ai of campaign c.
func (g entityGen) adGroup(c *campaign, ai int) adGroup {
	s := newStream(mix(c.seed, hashString("adGroup"), uint64(ai)))
	a := adGroup{
		id:         entityID(s.next()),
		name:       fmt.Sprintf("%s - Ad Group %d", c.theme, ai+1),
		status:     pickStatus(s, 0.8, 0.15),
		scale:      s.logUniform(20, 20000),
		priceCents: s.between(499, 6999),
		seed:       s.next(),
	}
	if c.status == StatusArchived {
		a.status = StatusArchived
	}
	a.active = c.active && a.status == StatusEnabled
	return a
}
