// Package sim is a hotel-catalog API simulator: millions of hotels computed from a seed
// (nothing is stored), a cursor-paginated list endpoint, per-hotel detail endpoints whose
// JSON shape differs between two suppliers and between hotels, a QPS limit per API key
// (429 beyond it, Retry-After sometimes missing), and 5xx and slow responses at configured
// rates. Tests ask it for the exact rows a correct extraction loads (Expected, or
// GET /_sim/expected) and for how often each list page was requested (PageRequests).
package sim
