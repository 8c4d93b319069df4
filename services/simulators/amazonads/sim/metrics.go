package sim

import "math"

// Attribution windows of the windowed metrics: 1, 7, 14 and 30 days.
const (
	w1d = iota
	w7d
	w14d
	w30d
	windows
)

// metrics are the additive measures of one entity over one or more days.
// Money is in cents so that sums are exact.
type metrics struct {
	impressions  int64
	clicks       int64
	costCents    int64
	purchases    [windows]int64
	purchasesSku [windows]int64
	units        [windows]int64
	unitsSku     [windows]int64
	salesCents   [windows]int64
	salesSku     [windows]int64
}

func (m *metrics) add(o *metrics) {
	m.impressions += o.impressions
	m.clicks += o.clicks
	m.costCents += o.costCents
	for w := range windows {
		m.purchases[w] += o.purchases[w]
		m.purchasesSku[w] += o.purchasesSku[w]
		m.units[w] += o.units[w]
		m.unitsSku[w] += o.unitsSku[w]
		m.salesCents[w] += o.salesCents[w]
		m.salesSku[w] += o.salesSku[w]
	}
}

// adGroupDay returns the metrics of ad group a on day d. Inactive ad groups
// (or ad groups of inactive campaigns) have all-zero rows. Windowed metrics
// grow with the window (1d <= 7d <= 14d <= 30d) and same-SKU metrics never
// exceed their totals, as in the real reports.
func adGroupDay(a *adGroup, d day) metrics {
	var m metrics
	if !a.active {
		return m
	}
	s := newStream(mix(a.seed, uint64(d)))
	m.impressions = int64(a.scale * (0.5 + s.float()))
	ctr := 0.001 + 0.014*s.float()
	m.clicks = min(m.impressions, int64(math.Round(float64(m.impressions)*ctr)))
	m.costCents = m.clicks*s.between(15, 250) + s.intn(m.clicks+1)

	p30 := int64(math.Round(float64(m.clicks) * (0.03 + 0.2*s.float())))
	p14 := p30 - s.intn(p30/5+1)
	p7 := p14 - s.intn(p14/5+1)
	p1 := p7 - s.intn(p7/3+1)
	extraUnits := s.intn(4)
	for w, p := range [windows]int64{p1, p7, p14, p30} {
		m.purchases[w] = p
		m.purchasesSku[w] = p * 8 / 10
		m.units[w] = p + p*extraUnits/10
		m.unitsSku[w] = m.units[w] * 8 / 10
		m.salesCents[w] = m.units[w] * a.priceCents
		m.salesSku[w] = m.unitsSku[w] * a.priceCents
	}
	return m
}

// costPerClick is cost/clicks in the currency, rounded to cents.
func (m *metrics) costPerClick() float64 {
	if m.clicks == 0 {
		return 0
	}
	return cents(int64(math.Round(float64(m.costCents) / float64(m.clicks))))
}

// clickThroughRate is clicks/impressions rounded to four decimals.
func (m *metrics) clickThroughRate() float64 {
	if m.impressions == 0 {
		return 0
	}
	return math.Round(float64(m.clicks)/float64(m.impressions)*1e4) / 1e4
}

// cents converts an amount in cents to a decimal with two places.
func cents(c int64) float64 { return float64(c) / 100 }
