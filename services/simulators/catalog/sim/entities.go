package sim

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"sort"
	"strings"
	"time"
)

// Suppliers are the two sources whose detail documents differ in shape.
const (
	SupplierAlpha = "alpha"
	SupplierBeta  = "beta"
)

// epoch is the earliest updated_at of any hotel; hotels are updated within a year after it.
var epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

var (
	cities = []struct{ city, country string }{
		{"Lisbon", "PT"}, {"Porto", "PT"}, {"Madrid", "ES"}, {"Sevilla", "ES"}, {"Paris", "FR"},
		{"Lyon", "FR"}, {"Berlin", "DE"}, {"München", "DE"}, {"Roma", "IT"}, {"Kraków", "PL"},
	}
	roomNames = []string{"Single", "Double", "Twin", "Suite", "Family", "Studio"}
	amenities = []string{"wifi", "parking", "pool", "gym", "spa", "breakfast", "bar", "airport-shuttle"}
)

// Hotel is one hotel as the expected rows see it (the typed truth behind both shapes).
type Hotel struct {
	ID        int64
	Supplier  string
	Name      string
	City      string
	Country   string
	Stars     *int64 // nil: the detail document has no rating
	Phone     *string
	UpdatedAt time.Time
	Rooms     []Room
}

// Room is one room type of a hotel.
type Room struct {
	HotelID      int64
	RoomID       string
	Name         string
	MaxOccupancy int64
	// Price in cents; nil when the supplier omits it.
	PriceCents *int64
	Currency   *string
}

// rnd is a tiny deterministic stream of numbers for one hotel.
type rnd struct{ h uint64 }

func newRnd(seed, id int64) *rnd {
	f := fnv.New64a()
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], uint64(seed))
	binary.LittleEndian.PutUint64(b[8:], uint64(id))
	f.Write(b[:])
	return &rnd{h: f.Sum64() | 1}
}

// next is xorshift64*.
func (r *rnd) next() uint64 {
	r.h ^= r.h >> 12
	r.h ^= r.h << 25
	r.h ^= r.h >> 27
	return r.h * 2685821657736338717
}

func (r *rnd) intn(n int) int { return int(r.next() % uint64(n)) }

// UpdatedAt is hotel id's last update: cheap, for list pages and incremental filters.
func UpdatedAt(seed, id int64) time.Time {
	r := newRnd(seed, id)
	return epoch.Add(time.Duration(r.next()%(365*24*3600)) * time.Second)
}

// MakeHotel computes hotel id (1-based) of the catalog with seed.
func MakeHotel(seed, id int64) Hotel {
	r := newRnd(seed, id)
	h := Hotel{ID: id, UpdatedAt: epoch.Add(time.Duration(r.next()%(365*24*3600)) * time.Second)}
	h.Supplier = SupplierAlpha
	if r.intn(2) == 1 {
		h.Supplier = SupplierBeta
	}
	c := cities[r.intn(len(cities))]
	h.City, h.Country = c.city, c.country
	h.Name = fmt.Sprintf("Hotel %s %d", c.city, id)
	if r.intn(5) != 0 {
		s := int64(1 + r.intn(5))
		h.Stars = &s
	}
	if r.intn(3) == 0 {
		p := fmt.Sprintf("+%d %09d", 30+r.intn(20), r.next()%1_000_000_000)
		h.Phone = &p
	}
	n := 1 + r.intn(4)
	for k := range n {
		room := Room{HotelID: id, Name: roomNames[r.intn(len(roomNames))], MaxOccupancy: int64(1 + r.intn(6))}
		if h.Supplier == SupplierAlpha {
			room.RoomID = fmt.Sprintf("R%d", k+1)
		} else {
			room.RoomID = fmt.Sprintf("%d-%c", id, 'A'+k)
		}
		if r.intn(6) != 0 {
			cents := int64(4000 + r.intn(40000))
			cur := []string{"EUR", "USD", "GBP"}[r.intn(3)]
			room.PriceCents, room.Currency = &cents, &cur
		}
		h.Rooms = append(h.Rooms, room)
	}
	return h
}

func price(cents int64) string { return fmt.Sprintf("%d.%02d", cents/100, cents%100) }

// Detail is hotel h's detail document in its supplier's shape. Shapes also vary between
// hotels of one supplier: optional fields are left out, some hotels carry extra fields.
func Detail(seed int64, h Hotel) map[string]any {
	r := newRnd(seed^0x5eed, h.ID)
	var rooms []any
	if h.Supplier == SupplierAlpha {
		for _, rm := range h.Rooms {
			m := map[string]any{"room_id": rm.RoomID, "name": rm.Name, "max_occupancy": rm.MaxOccupancy}
			if rm.PriceCents != nil {
				m["price"] = map[string]any{"amount": price(*rm.PriceCents), "currency": *rm.Currency}
			}
			rooms = append(rooms, m)
		}
		d := map[string]any{
			"id": h.ID, "supplier": h.Supplier, "name": h.Name,
			"address":    map[string]any{"city": h.City, "country": h.Country, "line1": fmt.Sprintf("Rua %d", h.ID%500)},
			"updated_at": h.UpdatedAt.Format(time.RFC3339),
			"rooms":      rooms,
		}
		if h.Stars != nil {
			d["stars"] = *h.Stars
		}
		if h.Phone != nil {
			d["contact"] = map[string]any{"phone": *h.Phone}
		}
		if r.intn(4) == 0 {
			d["amenities"] = []any{amenities[r.intn(len(amenities))], amenities[r.intn(len(amenities))]}
		}
		return d
	}
	for _, rm := range h.Rooms {
		m := map[string]any{"code": rm.RoomID, "title": rm.Name,
			"capacity": map[string]any{"adults": rm.MaxOccupancy}}
		if rm.PriceCents != nil {
			// Beta sends prices as JSON numbers in the currency's units.
			m["rate"] = float64(*rm.PriceCents) / 100
			m["currency"] = *rm.Currency
		}
		rooms = append(rooms, m)
	}
	d := map[string]any{
		"hotelId": h.ID, "supplier": h.Supplier, "hotelName": h.Name,
		"location":     map[string]any{"cityName": h.City, "countryCode": h.Country, "geo": map[string]any{"lat": float64(r.intn(180000))/1000 - 90, "lon": float64(r.intn(360000))/1000 - 180}},
		"lastModified": h.UpdatedAt.Unix(),
		"rooms":        rooms,
	}
	if h.Stars != nil {
		d["rating"] = map[string]any{"stars": *h.Stars, "source": "beta-audit"}
	}
	if h.Phone != nil {
		d["phone"] = *h.Phone
	}
	if r.intn(5) == 0 {
		d["chain"] = map[string]any{"code": fmt.Sprintf("CH%d", r.intn(40))}
	}
	return d
}

// Rows renders hotels as the rows of the catalog provider's tables, for exact comparisons:
// one string per row, columns joined by "|", NULL for a missing value, each list sorted.
// Hotels: hotel_id|supplier|name|city|country|stars|phone|updated_at (RFC 3339, UTC).
// Rooms: hotel_id|room_id|name|max_occupancy|price (2 decimals)|currency.
func Rows(hotels []Hotel) (hotelRows, roomRows []string) {
	or := func(s *string) string {
		if s == nil {
			return "NULL"
		}
		return *s
	}
	for _, h := range hotels {
		stars := "NULL"
		if h.Stars != nil {
			stars = fmt.Sprint(*h.Stars)
		}
		hotelRows = append(hotelRows, strings.Join([]string{fmt.Sprint(h.ID), h.Supplier, h.Name, h.City, h.Country, stars, or(h.Phone), h.UpdatedAt.UTC().Format(time.RFC3339)}, "|"))
		for _, r := range h.Rooms {
			p := "NULL"
			if r.PriceCents != nil {
				p = price(*r.PriceCents)
			}
			roomRows = append(roomRows, strings.Join([]string{fmt.Sprint(h.ID), r.RoomID, r.Name, fmt.Sprint(r.MaxOccupancy), p, or(r.Currency)}, "|"))
		}
	}
	sort.Strings(hotelRows)
	sort.Strings(roomRows)
	return hotelRows, roomRows
}
