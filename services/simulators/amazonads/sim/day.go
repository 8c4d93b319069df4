package sim

import (
	"fmt"
	"time"
)

// DateLayout is the layout of report dates (startDate, endDate, date).
const DateLayout = "2006-01-02"

// day is a calendar date as days since 1970-01-01.
type day int64

// dayOf returns the calendar date of t in t's own location.
func dayOf(t time.Time) day {
	y, m, d := t.Date()
	return day(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400)
}

func parseDay(s string) (day, error) {
	t, err := time.Parse(DateLayout, s)
	if err != nil {
		return 0, fmt.Errorf("date %q is not YYYY-MM-DD", s)
	}
	return dayOf(t), nil
}

func (d day) time() time.Time { return time.Unix(int64(d)*86400, 0).UTC() }

func (d day) String() string { return d.time().Format(DateLayout) }
