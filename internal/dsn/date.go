package dsn

import (
	"net/mail"
	"strings"
	"time"
)

// parseDate reads an RFC 5322 3.3 date ("Mon, 2 Jan 2006 15:04:05 -0700",
// with or without the day name, seconds or a trailing comment), falling back
// to net/mail for the obsolete forms; the zero time when unreadable. The
// fast path matters: notices carry several dates and net/mail tries layout
// after layout.
func parseDate(v string) time.Time {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}
	}
	if t, ok := fastDate(v); ok {
		return t
	}
	if t, err := mail.ParseDate(v); err == nil {
		return sane(t)
	}
	if t, err := mail.ParseDate(stripComments(v)); err == nil {
		return sane(t)
	}
	return time.Time{}
}

// sane returns t when it can be stored and sent as RFC 3339 (a year of four
// digits, a zone within a day of UTC), else the zero time.
func sane(t time.Time) time.Time {
	_, off := t.Zone()
	if t.Year() < 0 || t.Year() > 9999 || off <= -24*3600 || off >= 24*3600 {
		return time.Time{}
	}
	return t
}

var months = [...]string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}

// fastDate reads "[Day,] D Mon YYYY HH:MM[:SS] +ZZZZ [(comment)]".
func fastDate(s string) (time.Time, bool) {
	if i := strings.IndexByte(s, ','); i >= 0 && i <= 9 {
		s = s[i+1:]
	}
	var f [5]string
	for i := range f {
		s = strings.TrimLeft(s, " \t")
		j := indexSpace(s)
		if j < 0 {
			j = len(s)
		}
		if j == 0 {
			return time.Time{}, false
		}
		f[i], s = s[:j], s[j:]
	}
	day, ok := atoi(f[0], 1, 2)
	if !ok {
		return time.Time{}, false
	}
	mon := -1
	if len(f[1]) >= 3 {
		for i, name := range months {
			if strings.EqualFold(f[1][:3], name) {
				mon = i + 1
				break
			}
		}
	}
	year, ok := atoi(f[2], 4, 4)
	if mon < 0 || !ok {
		return time.Time{}, false
	}
	var clock [3]int
	hms, parts := f[3], 0
	for ; hms != "" && parts < 3; parts++ {
		p, rest, _ := strings.Cut(hms, ":")
		if clock[parts], ok = atoi(p, 1, 2); !ok {
			return time.Time{}, false
		}
		hms = rest
	}
	if parts < 2 || hms != "" {
		return time.Time{}, false
	}
	z := f[4]
	if len(z) != 5 || (z[0] != '+' && z[0] != '-') {
		return time.Time{}, false
	}
	zh, ok1 := atoi(z[1:3], 2, 2)
	zm, ok2 := atoi(z[3:5], 2, 2)
	if !ok1 || !ok2 || zh > 23 || zm > 59 || day < 1 || day > 31 || clock[0] > 23 || clock[1] > 59 || clock[2] > 60 {
		return time.Time{}, false
	}
	off := (zh*60 + zm) * 60
	if z[0] == '-' {
		off = -off
	}
	loc := time.UTC
	if off != 0 {
		loc = zone(off)
	}
	return time.Date(year, time.Month(mon), day, clock[0], clock[1], clock[2], 0, loc), true
}

// atoi reads a decimal of minLen to maxLen digits.
func atoi(s string, minLen, maxLen int) (int, bool) {
	if len(s) < minLen || len(s) > maxLen {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

// zones holds a fixed zone for every quarter-hour offset from -14:00 to
// +14:00, made once: time.FixedZone allocates at every call.
var zones = func() (z [113]*time.Location) {
	for i := range z {
		z[i] = time.FixedZone("", (i-56)*15*60)
	}
	return z
}()

// zone returns the fixed zone for an offset in seconds east of UTC.
func zone(off int) *time.Location {
	if off%(15*60) == 0 {
		if i := off/(15*60) + 56; i >= 0 && i < len(zones) {
			return zones[i]
		}
	}
	return time.FixedZone("", off)
}
